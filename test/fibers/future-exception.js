// An exception thrown by a fiber resumed from Future.wait()'s callback goes to
// the event loop (uncaughtException), and other fibers keep running; and an
// error that crosses wait() keeps both stacks: where it was waited for, then
// where it was thrown, joined by a "- - - - -" line.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const Future = require('stackful/future');

let thrown = false;
let caught = false;
const later = (continuation) => process.nextTick(() => continuation());

process.on('uncaughtException', (err) => {
  if (err.message !== 'Catch me if you can') throw err;
  caught = true;
});

Fiber(function () {
  Future.wrap(later)().wait();
  thrown = true;
  throw new Error('Catch me if you can');
}).run();

Fiber(function () {
  while (!thrown) Future.wrap(later)().wait();

  // Both stacks.
  function throwsLater() {
    const future = new Future();
    setTimeout(function throwingTimer() {
      future.throw(new Error('from the timer'));
    }, 1);
    return future;
  }
  let err;
  (function waitingFunction() {
    try {
      throwsLater().wait();
    } catch (e) {
      err = e;
    }
  })();
  assert.equal(err.message, 'from the timer');
  const [head, ...rest] = err.stack.split('\n');
  const joint = rest.indexOf('    - - - - -');
  assert.equal(head, 'Error: from the timer');
  assert.ok(joint > 0, err.stack);
  assert.ok(rest.slice(0, joint).some((l) => l.includes('waitingFunction')), err.stack);
  assert.ok(rest.slice(joint + 1).some((l) => l.includes('throwingTimer')), err.stack);
  assert.ok(err.futureStack.includes('throwingTimer') && !err.futureStack.includes('waitingFunction'));
  // Setting the stack replaces it.
  err.stack = 'replaced';
  assert.equal(err.stack, 'replaced');

  // Futures of fn.future() carry the function's exception, with its class.
  const failing = function () {
    throw new TypeError('bad input');
  }.future();
  assert.throws(() => failing().wait(), TypeError);
  const f = failing();
  Future.wait(f); // Future.wait() does not throw it
  assert.equal(f.isResolved(), true);
  assert.throws(() => f.get(), { message: 'bad input' });

  process.nextTick(() => {
    assert.equal(caught, true);
    console.log('pass');
  });
}).run();
