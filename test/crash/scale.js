// 10,000 fibers suspended at once, then 1,000,000 created, run and finished
// in a loop: RSS must stay flat across the loop.
'use strict';
const { Fiber, stats } = require('stackful');

const SUSPENDED = Number(process.argv[2] ?? 10000);
const LOOP = Number(process.argv[3] ?? 1000000);

const parked = [];
for (let i = 0; i < SUSPENDED; i++) {
  const f = new Fiber((x) => Fiber.yield(x) + 1);
  if (f.run(i) !== i) throw new Error('bad yield');
  parked.push(f);
}
const suspendedPeak = stats().suspended;
let resumed = 0;
for (let i = 0; i < parked.length; i++) if (parked[i].run(i) === i + 1) resumed++;

function rssAfterGc() {
  globalThis.gc();
  return process.memoryUsage().rss;
}

const body = (x) => x + 1;
const samples = [];
let sum = 0;
const chunk = LOOP / 10;
for (let round = 0; round < 10; round++) {
  for (let i = 0; i < chunk; i++) sum += new Fiber(body).run(1);
  samples.push(rssAfterGc());
}
const s = stats();
console.log(JSON.stringify({
  suspendedPeak,
  resumed,
  sum,
  live: s.live,
  finished: s.finished,
  pooledStacks: s.stackBytesPooled,
  // growth from the second sample (warm) to the last one
  rssGrowth: samples[samples.length - 1] - samples[1],
  rssSamples: samples,
}));
