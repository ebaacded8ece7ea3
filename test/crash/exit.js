// process.exit() called from a greenlet: 'exit' listeners run to their end
// with the IO hooks acting synchronously, no timer fires meanwhile, and
// process.exit() never returns, even when a listener tries to park or switch.
// Run with --require stackful/register.
// Usage: exit.js <mode> <log file>
//   io      a listener writes with writeFileSync, execSync and Atomics.wait
//   sleep   a listener calls sleep()
//   yield   a listener calls Fiber.yield() / switches to another fiber
//   root    process.exit() on the root fiber, a listener writes
'use strict';
const fs = require('node:fs');
const { execSync } = require('node:child_process');
const { Fiber, sleep, spawn } = require('stackful');

const [mode, file] = process.argv.slice(2);
const note = (line) => fs.appendFileSync(file, `${line}\n`);

// A timer that must not fire once the process exits.
let noted = false;
setInterval(() => {
  if (process._exiting && !noted) {
    noted = true;
    note('timer fired during exit');
  }
}, 1);

const other = spawn(() => sleep(60_000));

process.on('exit', (code) => {
  note(`exit listener: code ${code}, in ${Fiber.current === Fiber.root ? 'the root' : 'a fiber'}`);
  if (mode === 'io' || mode === 'root') {
    note(`execSync: ${execSync('echo from a child').toString().trim()}`);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    note(`Atomics.wait: ${Atomics.wait(cell, 0, 0, 20)}`);
    fs.writeFileSync(`${file}.listener`, 'written by the exit listener');
  } else if (mode === 'sleep') {
    try {
      sleep(50);
      note('slept');
    } catch (err) {
      note(`sleep: ${err.code}`);
      throw err;
    }
  } else if (mode === 'yield') {
    try {
      other.fiber.switch();
      note('switched');
    } catch (err) {
      note(`switch: ${err.code}`);
    }
    Fiber.yield();
    note('yielded and came back');
  }
});
process.on('exit', () => note('second exit listener'));

if (mode === 'root') {
  setTimeout(() => {
    process.exit(4);
    note('after process.exit()'); // never
  }, 20);
} else {
  spawn(() => {
    sleep(20);
    // A bad exit code throws, as in Node, before the process begins to exit: switching still works.
    try {
      process.exit(1.5);
    } catch (err) {
      note(`process.exit(1.5): ${err.code}`);
    }
    sleep(1);
    note('greenlet calls process.exit(3)');
    process.exit(3);
    note('after process.exit()'); // never
  });
  // Keeps the root busy with work that would run if the exit let it.
  spawn(() => {
    for (let i = 0; i < 1000; i++) {
      sleep(1);
      if (process._exiting) {
        note('another greenlet ran during exit');
        break;
      }
    }
  });
}
