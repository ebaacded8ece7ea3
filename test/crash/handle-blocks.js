// A fiber's first V8 handle block sits at the top of its own stack (see
// native/thread_archive.h). Here fibers park while V8's C++ holds handles for
// them: inside JSON.parse's reviver, which V8 calls from C++ recursion with a
// handle scope per level of nesting. Shallow ones stay within the block's
// first bytes, deeper ones fill the block and go on into blocks V8
// allocates. While they are parked, others run, allocate and force minor and
// full GCs; every parse result is checked when they finish. Then fibers that
// reuse those stacks do it again, and the memory of parked fibers is reported.
// Usage: node --expose-gc handle-blocks.js
'use strict';
const { Fiber, stats } = require('stackful');

const DEPTHS = [1, 8, 60, 300, 1500];
const PER_DEPTH = 12;

function nested(depth, id) {
  return '{"a":'.repeat(depth) + `{"v":${id}}` + '}'.repeat(depth);
}

// Every level's key is "a"; the innermost value is "v". The reviver parks at
// the innermost value (the whole C++ recursion is on the fiber's stack then)
// and at every 16th level on the way out, and changes what it passes on.
function parse(depth, id) {
  let level = 0;
  const result = JSON.parse(nested(depth, id), function reviver(key, value) {
    if (key === 'v') {
      Fiber.yield('deep');
      return value * 2;
    }
    if (key === 'a' && ++level % 16 === 0) Fiber.yield('level');
    return value;
  });
  let node = result;
  for (let i = 0; i < depth; i++) node = node.a;
  if (node.v !== id * 2) throw new Error(`fiber ${id} at depth ${depth}: read ${JSON.stringify(node)}`);
  return depth;
}

function churn() {
  const garbage = [];
  for (let i = 0; i < 2000; i++) garbage.push({ i, s: `g${i}` });
  return garbage.length;
}

function round() {
  const fibers = [];
  for (const depth of DEPTHS) {
    for (let k = 0; k < PER_DEPTH; k++) {
      const id = fibers.length + 1;
      const f = new Fiber(() => parse(depth, id));
      if (f.run() !== 'deep') throw new Error('expected the fiber to park at its innermost value');
      fibers.push({ f, depth });
    }
  }
  globalThis.gc({ type: 'minor' });
  globalThis.gc();
  let switches = 0;
  let live = fibers;
  while (live.length > 0) {
    const next = [];
    for (const { f, depth } of live) {
      churn();
      const r = f.run();
      switches++;
      if (f.dead) {
        if (r !== depth) throw new Error(`a fiber at depth ${depth} returned ${r}`);
      } else {
        next.push({ f, depth });
      }
      if (switches % 97 === 0) globalThis.gc({ type: 'minor' });
      if (switches % 401 === 0) globalThis.gc();
    }
    live = next;
  }
  return switches;
}

const switches = round() + round();

// Parked fibers' memory: the growth of RSS per fiber parked in Fiber.yield().
const N = 2000;
const warm = [];
for (let i = 0; i < 200; i++) {
  const f = new Fiber(() => Fiber.yield());
  f.run();
  warm.push(f);
}
globalThis.gc();
globalThis.gc();
const before = process.memoryUsage().rss;
const parked = [];
for (let i = 0; i < N; i++) {
  const f = new Fiber(() => Fiber.yield());
  f.run();
  parked.push(f);
}
globalThis.gc();
globalThis.gc();
const rssPerFiber = Math.round((process.memoryUsage().rss - before) / N);
for (const f of [...warm, ...parked]) f.run();

const s = stats();
console.log(JSON.stringify({ switches, live: s.live, handleBlocks: s.switching.handleBlocks, rssPerFiber }));
