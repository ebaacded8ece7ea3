// Future.wait() takes futures and arrays of futures, in any mix; resolved ones
// are skipped; one fn.future() call that has not started runs in the waiting fiber.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const Future = require('stackful/future');

function after(ms, value) {
  const future = new Future();
  setTimeout(() => future.return(value), ms);
  return future;
}

Fiber(function () {
  const me = Fiber.current;
  const group = [after(3, 'a'), after(1, 'b'), after(2, 'c')];
  const single = after(1, 'd');
  const done = new Future();
  done.return('e');
  Future.wait(group, single, [done], []);
  assert.deepEqual(group.map((f) => f.get()), ['a', 'b', 'c']);
  assert.equal(single.get(), 'd');

  // Errors do not come out of Future.wait(); get() throws them.
  const bad = new Future();
  setTimeout(() => bad.throw(new Error('nope')), 1);
  Future.wait([bad, after(2, 1)]);
  assert.throws(() => bad.get(), { message: 'nope' });

  // The first unstarted fn.future() call runs right here, in this fiber.
  let ranIn;
  const here = function () {
    ranIn = Fiber.current;
    return 'inline';
  }.future();
  const elsewhere = function () {
    return Fiber.current;
  }.future();
  const x = here();
  const y = elsewhere();
  Future.wait([x, y]);
  assert.equal(ranIn, me);
  assert.equal(x.get(), 'inline');
  assert.notEqual(y.get(), me);

  // Everything resolved already: no yield at all.
  Future.wait([done]);

  // Not futures.
  assert.throws(() => Future.wait([1]), { message: '1 is not a future', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => Future.wait('x'), { message: 'x is not a future' });
  console.log('pass');
}).run();

// No fiber.
assert.throws(() => Future.wait(after(1, 0)), { message: "Can't wait without a fiber", code: 'ERR_NOT_IN_FIBER' });
assert.throws(() => new Future().wait(), { message: "Can't wait without a fiber" });
