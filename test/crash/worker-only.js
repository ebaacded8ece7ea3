// stackful loaded only in workers, never on the main thread (piscina-style
// pools). Each worker loads it alone, leaves `parked` fibers suspended and
// either exits by itself or is terminated. Node unloads an addon when the
// environment that loaded it goes away; stackful pins itself, since V8 calls
// into it after that (issue #15: SIGSEGV at the first worker's exit).
//
//   node worker-only.js <cycles> <parked> <exit|terminate> [--rss]
// Prints {"cycles", "live": ["<suspended> <switch path>[: why]", each one seen],
// "rss": [MB after each tenth of the cycles]} as JSON.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');

if (isMainThread) {
  const [cycles = 100, parked = 0, how = 'exit'] = process.argv.slice(2).map((a, i) => (i < 2 ? Number(a) : a));
  if ('stackful' in require.cache || Object.keys(require.cache).some((k) => k.includes(`${path.sep}dist${path.sep}`))) {
    throw new Error('the main thread must not load stackful');
  }
  const rss = [];
  const live = [];
  (async () => {
    for (let i = 0; i < cycles; i++) {
      const w = new Worker(__filename, { workerData: { parked } });
      const ready = await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      live.push(ready);
      if (how === 'terminate') {
        await w.terminate();
      } else {
        w.postMessage('exit');
        await new Promise((resolve) => w.once('exit', resolve));
      }
      if ((i + 1) % Math.max(1, Math.floor(cycles / 10)) === 0) {
        if (global.gc) global.gc();
        rss.push(Math.round(process.memoryUsage().rss / 1e6));
      }
    }
    console.log(JSON.stringify({ cycles, live: [...new Set(live)], rss }));
  })();
} else {
  const { Fiber, stats } = require(path.join(__dirname, '..', '..'));
  const held = [];
  for (let i = 0; i < workerData.parked; i++) {
    const f = new Fiber(() => {
      const mine = { i, data: new Array(8).fill(i) };
      Fiber.yield();
      return mine;
    });
    f.run();
    held.push(f);
  }
  parentPort.postMessage(`${stats().suspended} ${stats().switching.path}${stats().switching.reason ? `: ${stats().switching.reason}` : ''}`);
  parentPort.once('message', () => {
    parentPort.close();  // nothing else keeps the worker alive: it exits with the fibers parked
  });
}
