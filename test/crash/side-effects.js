// What importing stackful changes in the process, and when: the V8 flag and
// the "blocked forever" report wait for the first fiber / the first park;
// the switch guards (process.exit, vm.Script) are installed at import (see
// src/core/guard.ts for why). Prints one JSON line.
'use strict';
const v8 = require('node:v8');
const vm = require('node:vm');

const flags = [];
const setFlags = v8.setFlagsFromString;
v8.setFlagsFromString = (flag) => {
  flags.push(flag);
  return setFlags.call(v8, flag);
};
const nodeExit = process.exit;
const runInContext = vm.Script.prototype.runInContext;
const beforeExit = () => process.listenerCount('beforeExit');
const initial = beforeExit();

const { Fiber, spawn, sleep } = require('stackful');
const atImport = { flags: flags.slice(), beforeExit: beforeExit() - initial, exitWrapped: process.exit !== nodeExit, vmWrapped: vm.Script.prototype.runInContext !== runInContext };

const fiber = new Fiber(() => Fiber.yield());
const atFirstFiber = { flags: flags.slice(), beforeExit: beforeExit() - initial };
fiber.run();
fiber.run();

spawn(() => sleep(1)).then(() => {
  const atFirstPark = { beforeExit: beforeExit() - initial };
  new Fiber(() => {}).run();
  console.log(JSON.stringify({ atImport, atFirstFiber, atFirstPark, flagsAtEnd: flags }));
});
