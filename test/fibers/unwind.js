// reset() unwinds a fiber that catches the unwinding error 1,000 times: each
// Fiber.yield() it makes while unwinding throws again, until it returns.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

let ii;
let caught;
const fn = Fiber(function () {
  for (ii = 0; ii < 1000; ++ii) {
    try {
      Fiber.yield();
    } catch (err) {
      caught = err;
    }
  }
  return 'unwound';
});
fn.run();
assert.equal(fn.started, true);
assert.equal(fn.reset(), 'unwound'); // what the function returns, reset() returns
assert.equal(ii, 1000);
assert.equal(fn.started, false);
assert.equal(caught.message, 'This Fiber is a zombie');
assert.equal(caught.code, 'ERR_FIBER_ZOMBIE');

// The zombie error itself is swallowed; `finally` blocks run.
const order = [];
const plain = Fiber(function () {
  try {
    Fiber.yield();
    order.push('not reached');
  } finally {
    order.push('finally');
  }
});
plain.run();
assert.equal(plain.reset(), undefined);
assert.deepEqual(order, ['finally']);

// Another error the fiber ends with comes out of reset().
const other = Fiber(function () {
  try {
    Fiber.yield();
  } catch {
    throw new TypeError('cleanup failed');
  }
});
other.run();
assert.throws(() => other.reset(), { name: 'TypeError', message: 'cleanup failed' });

// Not started: nothing to do. Running: refused. Arguments: refused.
assert.equal(Fiber(() => 1).reset(), undefined);
Fiber(function () {
  assert.throws(() => Fiber.current.reset(), { name: 'Error', message: 'This Fiber is not yielding', code: 'ERR_FIBER_NOT_YIELDING' });
}).run();
const idle = Fiber(() => Fiber.yield());
idle.run();
assert.throws(() => idle.reset(1), { name: 'TypeError', message: 'reset() expects no arguments' });
idle.reset();

// A fiber that was reset can run again from the start.
let starts = 0;
const again = Fiber(function () {
  starts++;
  Fiber.yield();
});
again.run();
again.reset();
again.run();
again.run();
assert.equal(starts, 2);
console.log('pass');
