// Fiber's methods called on something that is not a Fiber throw TypeError (V8's "Illegal invocation", as node-fibers).
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

for (const bad of [null, undefined, {}, 42, Object.create(Fiber.prototype)]) {
  for (const method of ['run', 'throwInto', 'reset']) {
    assert.throws(() => Fiber.prototype[method].call(bad), { name: 'TypeError', message: 'Illegal invocation', code: 'ERR_INVALID_THIS' }, `${method} on ${String(bad)}`);
  }
}
const started = Object.getOwnPropertyDescriptor(Fiber.prototype, 'started').get;
assert.equal(started.call({}), undefined);
assert.equal(started.call(null), undefined);

// The constructor's own checks.
assert.throws(() => Fiber(), { name: 'TypeError', message: 'Fiber expects 1 argument' });
assert.throws(() => new Fiber(() => {}, {}), { name: 'TypeError', message: 'Fiber expects 1 argument' });
assert.throws(() => Fiber('not a function'), { name: 'TypeError', message: 'Fiber expects a function', code: 'ERR_INVALID_ARG_TYPE' });
console.log('pass');
