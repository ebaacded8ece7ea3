// Suspended fibers, a young AsyncLocalStorage frame, and scavenges. On Node
// 24 and later the frame is V8's continuation-preserved embedder data, which
// V8 visits once more for every archived thread state (every suspended
// fiber): a scavenge would copy it that many times and leave the heap
// corrupt, unless stackful keeps it out of the isolate's slot during the
// scavenge. Usage: node --expose-gc async-context-gc.js
'use strict';
const { AsyncLocalStorage } = require('node:async_hooks');
const { Fiber, stats } = require('stackful');
const als = new AsyncLocalStorage();
const parked = [];
for (let i = 0; i < 50; i++) { const f = new Fiber(() => Fiber.yield()); f.run(); parked.push(f); }
let checked = 0;
for (let round = 0; round < 2000; round++) {
  const store = { round, list: [round, `r${round}`] };
  als.run(store, () => {
    const junk = [];
    for (let j = 0; j < 50; j++) junk.push({ j, s: `junk${j}` });
    gc({ type: 'minor' });
    const seen = als.getStore();
    if (seen !== store || seen.list[1] !== `r${round}`) throw new Error(`round ${round}: the store changed`);
    checked++;
  });
}
for (const f of parked) f.run();
console.log(JSON.stringify({ checked, live: stats().live }));
