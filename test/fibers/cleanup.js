// After 1,000+ fibers have lived and died, creating and finishing fibers costs
// what it did before: nothing of the dead ones is left to walk or to grow.
// (node-fibers timed this; the timing belongs to `npm run bench`. Here the
// causes are measured: live and suspended fibers back to zero, and the stacks
// of the dead reused rather than new ones reserved.)
'use strict';
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const { stats } = require('stackful');

Fiber.poolSize = 100;
assert.equal(Fiber.poolSize, 100);

function round() {
  const fibers = [];
  for (let jj = 0; jj < Fiber.poolSize; ++jj) {
    const fiber = Fiber(function () {
      Fiber.yield();
    });
    fiber.run();
    fibers.push(fiber);
  }
  for (const fiber of fibers) fiber.run();
}

for (let i = 0; i < 20; i++) round();
const before = stats();
assert.equal(before.live, 0);

// Dirty up: poolSize + 1000 fibers alive at once, then all finished.
const created = Fiber.fibersCreated;
const many = [];
for (let ii = 0; ii < Fiber.poolSize + 1000; ++ii) {
  const fiber = Fiber(function () {
    Fiber.yield();
  });
  fiber.run();
  many.push(fiber);
}
assert.equal(stats().suspended, Fiber.poolSize + 1000);
for (const fiber of many) fiber.run();
assert.equal(Fiber.fibersCreated, created + Fiber.poolSize + 1000);
const dirty = stats();
assert.equal(dirty.live, 0);
assert.equal(dirty.suspended, 0);

// The same rounds again: no fiber left behind, no stack reserved beyond what the 1,100 took.
for (let i = 0; i < 20; i++) round();
const after = stats();
assert.equal(after.live, 0);
assert.equal(after.finished - dirty.finished, 20 * Fiber.poolSize);
assert.equal(after.stackBytesReserved, dirty.stackBytesReserved);
assert.ok(dirty.stackBytesReserved >= before.stackBytesReserved);
console.log('pass');
