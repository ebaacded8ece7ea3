// Interrupts requested from another thread reach a thread whose fibers switch
// nonstop. Each switch moves V8's stack limit; a request from another thread
// writes V8's interrupt marker into the same words at any moment, and a
// switch must never overwrite a marker it did not see. Here the main thread
// asks a worker for heap snapshots (Node delivers the request as a V8
// interrupt: the worker's event loop is never reached while it switches)
// while the worker ping-pongs between two fibers, and each snapshot must
// arrive while the switching still goes on.
// Usage: node interrupts.js [snapshots]
'use strict';
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const { Fiber } = require('stackful');

const SNAPSHOTS = Number(process.argv[2] ?? 6);

if (isMainThread) {
  const worker = new Worker(__filename);
  const counter = new Int32Array(new SharedArrayBuffer(8)); // [0]: round trips so far, [1]: stop
  worker.postMessage(counter);
  (async () => {
    await new Promise((resolve) => worker.once('message', resolve)); // switching has begun
    const during = [];
    for (let i = 0; i < SNAPSHOTS; i++) {
      const before = Atomics.load(counter, 0);
      const stream = await worker.getHeapSnapshot();
      let bytes = 0;
      for await (const chunk of stream) bytes += chunk.length;
      const after = Atomics.load(counter, 0);
      during.push({ bytes: bytes > 100_000, switchedMeanwhile: after > before });
    }
    Atomics.store(counter, 1, 1);
    const { roundTrips, ranOut } = await new Promise((resolve) => worker.once('message', resolve));
    await worker.terminate();
    console.log(JSON.stringify({ snapshots: during.length, during, roundTrips: roundTrips > 0, ranOut }));
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  parentPort.once('message', (counter) => {
    const pong = new Fiber(() => {
      for (;;) Fiber.yield();
    });
    parentPort.postMessage('started');
    let n = 0;
    // Should an interrupt be lost, no snapshot comes and the main thread never
    // says stop: the worker gives up after this long and says so (ranOut).
    const deadline = Date.now() + 20_000;
    let ranOut = false;
    while (Atomics.load(counter, 1) === 0) {
      if (Date.now() > deadline) {
        ranOut = true;
        break;
      }
      for (let i = 0; i < 1000; i++) pong.run();
      n += 1000;
      Atomics.store(counter, 0, n);
    }
    parentPort.postMessage({ roundTrips: n, ranOut });
  });
}
