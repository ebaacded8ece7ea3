// Leaves fibers suspended and exits. Usage: exit-suspended.js <count> <natural|exit-code N|throw>
'use strict';
const { Fiber, stats } = require('stackful');

const count = Number(process.argv[2] ?? 1000);
const mode = process.argv[3] ?? 'natural';
const fibers = [];
for (let i = 0; i < count; i++) {
  const f = new Fiber(() => {
    const held = { i, data: new Array(10).fill(i) };
    Fiber.yield();
    return held;
  });
  f.run();
  fibers.push(f);
}
if (stats().suspended !== count) throw new Error(`expected ${count} suspended`);
if (mode === 'exit-code') process.exit(Number(process.argv[4]));
if (mode === 'from-fiber') new Fiber(() => process.exit(Number(process.argv[4]))).run();
setTimeout(() => {}, 10); // let the loop turn once
