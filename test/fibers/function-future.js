// Function.prototype.future(detach?): the function runs in a fiber of its own
// (on the next tick) and its call returns a Future of the result.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const Future = require('stackful/future');

assert.equal(Object.getOwnPropertyDescriptor(Function.prototype, 'future').enumerable, false);

const sleep = (ms) => {
  const future = new Future();
  setTimeout(() => future.return(ms), ms);
  return future;
};

const add = function (a, b) {
  assert.notEqual(Fiber.current, undefined); // may wait: it runs in a fiber
  sleep(2).wait();
  return this.base + a + b;
}.future();
assert.match(String(add), /^<<Future function \(a, b\)[\s\S]*\.future\(\)>>$/);

const obj = { base: 100, add };
const pending = obj.add(1, 2);
assert.ok(pending instanceof Future);
assert.equal(pending.isResolved(), false);
assert.equal(pending.started, false);

// detach: an exception goes to the event loop.
const detached = function () {
  throw new Error('detached failure');
}.future(true);
let uncaught;
process.once('uncaughtException', (err) => (uncaught = err));
detached();

pending.resolve((err, value) => {
  assert.equal(err, undefined);
  assert.equal(value, 103);
  assert.equal(pending.started, true);
  Fiber(function () {
    // Waited for from another fiber.
    assert.equal(obj.add(10, 20).wait(), 130);
    // Future.task: one function, or several (values in order).
    assert.equal(Future.task(() => 'one').wait(), 'one');
    assert.deepEqual(Future.task(() => { sleep(3).wait(); return 1; }, () => 2).wait(), [1, 2]);
    assert.throws(() => Future.task(() => 1, () => { throw new Error('task failed'); }).wait(), { message: 'task failed' });
    assert.equal(uncaught?.message, 'detached failure');
    console.log('pass');
  }).run();
});
