// Released stacks keep their pages only while they stayed shallow: 200 fibers
// that each grew their stack by ~600 KiB give those pages back when they
// finish (beyond the few kept warm), and RSS falls back.
// With `few`: fewer fibers than the pool keeps warm, each recursing until
// V8's RangeError, then parked shallow and killed: their deep pages go back
// too (before, the first 32 released stacks kept every page they touched).
// With `gc`: fibers that ran a scavenge before parking cost no more than others.
// With `window`: a fiber that recursed deep but never suspended is not asked
// how deep it went when it finishes (no system call for the common
// short-lived fiber); its pages go back once newer released stacks push it
// out of the few the pool keeps unasked.
// Usage: node --expose-gc stack-trim.js [many|few|gc|window]
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
if (process.argv[2] === 'gc') {
  // A scavenge that runs on a fiber's stack reaches far below its frames;
  // once the fiber has parked, those pages are given back. Two batches of
  // parked fibers, one where each ran a scavenge before parking: both cost
  // the same (before, the second took a page more per fiber).
  const N = 5000;
  const batch = (scavenge) => {
    const start = rssKiB();
    const parked = Array.from({ length: N }, () => {
      const f = new Fiber(() => {
        if (scavenge) gc({ type: 'minor' });
        Fiber.yield();
      });
      f.run();
      return f;
    });
    const perFiber = Math.round(((rssKiB() - start) * 1024) / N);
    return { perFiber, parked };
  };
  gc();
  const plain = batch(false);
  const scavenged = batch(true);
  for (const f of [...plain.parked, ...scavenged.parked]) f.run();
  console.log(JSON.stringify({ plainPerFiber: plain.perFiber, scavengedPerFiber: scavenged.perFiber }));
} else if (process.argv[2] === 'window') {
  const deepOnce = (n) => (n === 0 ? 0 : deepOnce(n - 1) + 1);
  // Once shallow (so that what the first round allocates is not counted), then deep.
  const round = (depth) => {
    const parked = Array.from({ length: 40 }, () => new Fiber(() => Fiber.yield()));
    for (const f of parked) f.run(); // 40 stacks in use
    gc();
    const before = rssKiB();
    new Fiber(() => deepOnce(depth)).run(); // never suspended: released unasked
    const peak = rssKiB();
    for (const f of parked) f.run(); // 40 stacks released on top of it
    gc();
    return { grownKiB: peak - before, keptKiB: rssKiB() - before, dead: parked.every((f) => f.dead) };
  };
  round(10);
  console.log(JSON.stringify(round(6000)));
} else if (process.argv[2] === 'few') {
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
