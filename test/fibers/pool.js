// 200 parked fibers, 10 rounds: each round parks 200, then resumes them all to the end.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const { stats } = require('stackful');

let finished = 0;
for (let round = 0; round < 10; ++round) {
  const fibers = [];
  for (let i = 0; i < 200; ++i) {
    const fn = Fiber(function () {
      Fiber.yield();
      finished++;
    });
    fn.run();
    fibers.push(fn);
  }
  assert.equal(stats().suspended, 200);
  for (const fn of fibers) fn.run();
  assert.ok(fibers.every((fn) => !fn.started));
  assert.equal(stats().live, 0);
}
assert.equal(finished, 2000);
console.log('pass');
