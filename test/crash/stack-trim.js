// Released stacks keep their pages only while they stayed shallow: 200 fibers
// that each grew their stack by ~600 KiB give those pages back when they
// finish (beyond the few kept warm), and RSS falls back.
// With `few`: fewer fibers than the pool keeps warm, each recursing until
// V8's RangeError, then parked shallow and killed: their deep pages go back
// too (before, the first 32 released stacks kept every page they touched).
// Usage: node stack-trim.js [many|few]
'use strict';
const fs = require('node:fs');
const { Fiber } = require('stackful');

const FIBERS = 200;
function rssKiB() {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
}
// Deep frames, and nothing on the heap: small integers only.
function deep(n, a, b, c, d) {
  return n === 0 ? Fiber.yield(0) : deep(n - 1, a + 1, b, c, d) + 0;
}
if (process.argv[2] === 'few') {
  function overflow() {
    return overflow() + 1;
  }
  const few = Array.from({ length: 20 }, () => new Fiber(() => {
    try {
      overflow();
    } catch {
      Fiber.yield();
    }
  }));
  const before = rssKiB();
  for (const f of few) f.run();
  const peak = rssKiB();
  for (const f of few) f.kill();
  const after = rssKiB();
  console.log(JSON.stringify({ grownKiB: peak - before, keptKiB: after - before, dead: few.every((f) => f.dead) }));
} else {
  const before = rssKiB();
  const fibers = Array.from({ length: FIBERS }, () => new Fiber(() => deep(4000, 0, 1, 2, 3)));
  for (const f of fibers) f.run();
  const peak = rssKiB();
  for (const f of fibers) f.run();
  const after = rssKiB();
  console.log(JSON.stringify({ grownKiB: peak - before, keptKiB: after - before, dead: fibers.every((f) => f.dead) }));
}
