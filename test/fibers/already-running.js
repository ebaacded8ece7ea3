// Resuming a fiber that is not stopped in Fiber.yield() throws node-fibers' error.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

// A child runs its parent, which waits in run() for it (node-fibers gh-8).
assert.throws(() => {
  Fiber(function () {
    const that = Fiber.current;
    Fiber(function () {
      that.run();
    }).run();
  }).run();
}, { name: 'Error', message: 'This Fiber is already running', code: 'ERR_FIBER_RUNNING' });

// A fiber runs itself.
Fiber(function () {
  assert.throws(() => Fiber.current.run(), { message: 'This Fiber is already running' });
  assert.throws(() => Fiber.current.throwInto(new Error('x')), { name: 'Error', message: 'This Fiber is not yielding' });
}).run();

// throwInto() on a fiber that never started.
assert.throws(() => Fiber(() => {}).throwInto(new Error('x')), { message: 'This Fiber is not yielding', code: 'ERR_FIBER_NOT_YIELDING' });

// Too many arguments.
const f = Fiber(() => Fiber.yield());
assert.throws(() => f.run(1, 2), { name: 'TypeError', code: 'ERR_FIBERS_ARG_COUNT' });
f.run();
assert.throws(() => f.throwInto(1, 2), { name: 'TypeError', message: 'throwInto() expects 1 or no arguments' });
f.run();
assert.equal(f.started, false);
console.log('pass');
