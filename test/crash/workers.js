// Fibers on the main thread and in workers at once; workers terminated while
// they have fibers suspended, and while a fiber spins in a loop.
'use strict';
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { Fiber, stats } = require('stackful');

function pingPong(rounds, step) {
  const f = new Fiber(() => {
    let sum = 0;
    for (let i = 0; i < rounds; i++) sum += Fiber.yield(i);
    return sum;
  });
  f.run();
  let result;
  while (!f.dead) result = f.run(step);
  return result;
}

function park(count) {
  const parked = [];
  for (let i = 0; i < count; i++) {
    const f = new Fiber(() => {
      const held = new Array(100).fill(i);
      Fiber.yield();
      return held;
    });
    f.run();
    parked.push(f);
  }
  return parked;
}

if (isMainThread) {
  const start = (mode) => new Worker(__filename, { workerData: mode });
  const report = {};
  const counters = [start('count'), start('count')];
  const counted = counters.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  }));
  // The main thread switches fibers while the workers do the same.
  report.main = pingPong(50000, 3);
  Promise.all(counted).then(async (values) => {
    report.workers = values;
    // Listen from the start: a message that arrives with no listener is lost.
    const ready = (w) => new Promise((resolve) => w.once('message', resolve));
    const spin = start('spin');
    const spinReady = ready(spin);
    const parked = start('parked');
    const parkedReady = ready(parked);
    report.spinReady = await spinReady;
    report.parkedReady = await parkedReady;
    report.spinExit = await spin.terminate();
    report.parkedExit = await parked.terminate();
    // A worker that exits by itself with fibers suspended.
    const natural = start('natural');
    report.naturalExit = await new Promise((resolve) => natural.once('exit', resolve));
    report.mainStats = stats().live;
    console.log(JSON.stringify(report));
  });
} else if (workerData === 'count') {
  parentPort.postMessage(pingPong(50000, 2));
} else if (workerData === 'spin') {
  const parked = park(100);
  new Fiber(() => {
    parentPort.postMessage(`spinning with ${stats().suspended} suspended`);
    for (;;);
  }).run();
  void parked;
} else if (workerData === 'parked') {
  const parked = park(500);
  parentPort.postMessage(stats().suspended);
  setInterval(() => {}, 1000);
  void parked;
} else if (workerData === 'natural') {
  park(200);
  process.exitCode = 3;
}
