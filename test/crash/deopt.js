// Optimized code that is active in suspended fibers gets deoptimized while
// they are parked (V8 finds their frames through the archived thread states),
// then they resume and must compute on correctly.
// Usage: node --allow-natives-syntax --no-concurrent-recompilation --expose-gc deopt.js
'use strict';
const { Fiber, stats } = require('stackful');

function step(point, fiberId) {
  // Suspends inside this (optimized) function; the caller's frame is optimized too.
  const got = Fiber.yield(point.x + point.y);
  return got + point.x * fiberId;
}
function loop(fiberId, rounds) {
  const point = { x: fiberId, y: 1 };
  let sum = 0;
  for (let i = 0; i < rounds; i++) sum += step(point, fiberId);
  return sum;
}

const FIBERS = 50;
const ROUNDS = 200;
const fibers = [];
for (let id = 0; id < FIBERS; id++) {
  const f = new Fiber(() => loop(id, ROUNDS));
  f.run();
  fibers.push(f);
}
// Warm up and optimize both functions while every fiber keeps using them.
for (let r = 0; r < 50; r++) for (const f of fibers) f.run(1);
%PrepareFunctionForOptimization(step);
%PrepareFunctionForOptimization(loop);
%OptimizeFunctionOnNextCall(step);
%OptimizeFunctionOnNextCall(loop);
for (const f of fibers) f.run(1);
const optimizedBefore = %GetOptimizationStatus(step);
// While all fibers are parked inside them, throw their optimized code away.
%DeoptimizeFunction(step);
%DeoptimizeFunction(loop);
if (typeof gc === 'function') gc();
const results = [];
for (let r = 51; r < ROUNDS - 1; r++) for (const f of fibers) f.run(1);
for (const f of fibers) results.push(f.run(1));
const expected = fibers.map((_, id) => ROUNDS * (1 + id * id));
const ok = results.every((v, id) => v === expected[id]);
// Optimized by TurboFan or Maglev (V8's status bits 16, 64 and 32) before the deopt.
const optimized = (optimizedBefore & (16 | 32 | 64)) !== 0;
console.log(JSON.stringify({ ok, dead: fibers.every((f) => f.dead), live: stats().live, optimized }));
