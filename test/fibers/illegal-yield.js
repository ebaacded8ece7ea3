// Fiber.yield() outside any fiber throws node-fibers' error.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

assert.throws(() => Fiber.yield(), { name: 'Error', message: 'yield() called with no fiber running', code: 'ERR_NOT_IN_FIBER' });
assert.throws(() => Fiber.yield(1), { message: 'yield() called with no fiber running' });
assert.equal(Fiber.current, undefined);
// Two values: node-fibers' TypeError.
Fiber(function () {
  assert.throws(() => Fiber.yield(1, 2), { name: 'TypeError', message: 'yield() expects 1 or no arguments' });
}).run();
console.log('pass');
