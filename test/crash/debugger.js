// Fibers while V8's debugger is active (an in-process inspector session with
// Debugger.enable): a switch then goes through V8's own restore of the
// debugger's per-thread state. `debugger` statements pause in the fiber that
// runs them, and what fibers hold survives GCs. Usage: node --expose-gc debugger.js
'use strict';
const inspector = require('node:inspector');
const { Fiber, stats } = require('stackful');

const ROUNDS = 500;
const session = new inspector.Session();
session.connect();
const paused = [];
session.on('Debugger.paused', (message) => {
  paused.push(message.params.callFrames[0].functionName);
  session.post('Debugger.resume');
});
session.post('Debugger.enable');

function held(tag) {
  return Array.from({ length: 64 }, (_, k) => ({ k, text: `${tag}${k}`, bytes: new Uint8Array([k]) }));
}
function check(list, tag) {
  list.forEach((item, k) => {
    if (item.k !== k || item.text !== `${tag}${k}` || item.bytes[0] !== k) throw new Error(`${tag}: item ${k} damaged`);
  });
  return list.length;
}

function fiberA() {
  const list = held('a');
  for (let i = 1; i <= ROUNDS; i++) {
    const value = Fiber.yield();
    if (value !== i) throw new Error(`fiberA resumed with ${value} at round ${i}`);
    if (i % 50 === 0) debugger; // eslint-disable-line no-debugger
  }
  return check(list, 'a');
}

function fiberB() {
  const list = held('b');
  for (let i = 1; i <= ROUNDS; i++) {
    const value = Fiber.yield();
    if (value !== -i) throw new Error(`fiberB resumed with ${value} at round ${i}`);
    if (i % 50 === 0) debugger; // eslint-disable-line no-debugger
  }
  return check(list, 'b');
}

const a = new Fiber(fiberA);
const b = new Fiber(fiberB);
a.run();
b.run();
const results = [];
for (let i = 1; i <= ROUNDS; i++) {
  const ra = a.run(i);
  const rb = b.run(-i);
  if (i % 25 === 0) {
    gc({ type: 'minor' });
    gc();
  }
  if (i === ROUNDS) results.push(ra, rb);
}
session.disconnect();
console.log(JSON.stringify({ path: stats().switching.path, paused, results, live: stats().live }));
