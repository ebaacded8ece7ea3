// A fiber inside a vm run with `timeout` or `breakOnSigint` cannot switch out
// (ERR_FIBER_VM_TIMEOUT): the vm watchdog would stop whatever runs when it
// fires, which used to end the main script silently with exit code 0.
// Run with --require stackful/register. Usage: vm-timeout.js <main|promise>
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');
const { Fiber, runInFiber, sleep, spawn } = require('stackful');


const mode = process.argv[2];
const log = [];
const codeOf = (fn) => {
  try {
    return { value: fn() };
  } catch (err) {
    return { code: err.code, message: String(err.message).slice(0, 60) };
  }
};
const busy = (ms) => {
  const end = Date.now() + ms;
  while (Date.now() < end);
};

function cases() {
  // Parking inside the timed run is refused: the vm call throws in its fiber.
  const parked = new Fiber(() => codeOf(() => vm.runInNewContext('sleep(50); "slept"', { sleep }, { timeout: 50 })));
  log.push(['sleep in a timed run', parked.run()]);
  // A yield through vm.Script#runInContext with breakOnSigint: refused too.
  const yielded = new Fiber(() => codeOf(() => new vm.Script('yieldIt()').runInContext(vm.createContext({ yieldIt: () => Fiber.yield() }), { breakOnSigint: true })));
  log.push(['yield in breakOnSigint run', yielded.run()]);
  // The root inside a timed run cannot switch into a fiber either.
  const other = new Fiber(() => 'ran');
  globalThis.other = other;
  log.push(['root switches in from a timed run', codeOf(() => vm.runInThisContext('other.run()', { timeout: 1000 }))]);
  delete globalThis.other;
}

function inFiber() {
  // Blocking-looking calls inside a timed run block for real (Node's own functions).
  log.push(['readFileSync in a timed run', codeOf(() => vm.runInNewContext('read(file, "utf8").length > 0', { read: fs.readFileSync, file: __filename }, { timeout: 5000 }))]);
  // A run that really times out throws in its own fiber only.
  log.push(['infinite loop', codeOf(() => vm.runInNewContext('for (;;);', {}, { timeout: 50 }))]);
  // After the vm call returns, the fiber switches again.
  log.push(['untimed run may park', codeOf(() => vm.runInNewContext('sleep(1); "ok"', { sleep }))]);
  sleep(1);
  return 'fiber finished';
}

function main() {
  cases();
  // The root keeps running past the 50 ms timeout: it must not be stopped.
  busy(300);
  log.push(['root busy past the timeout', 'still running']);
  return runInFiber(inFiber).then((value) => {
    log.push(['runInFiber', value]);
    // A greenlet, through the hub: the same.
    const g = spawn(() => vm.runInNewContext('sleep(50)', { sleep }, { timeout: 50 }));
    return runInFiber(() => {
      g.join();
      log.push(['greenlet', g.exception && g.exception.code]);
    });
  });
}

if (mode === 'main') {
  main().then(() => console.log(JSON.stringify(log)));
} else {
  // The same, started from a promise callback.
  Promise.resolve().then(main).then(() => console.log(JSON.stringify(log)));
}
