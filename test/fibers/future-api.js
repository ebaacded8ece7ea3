// The rest of the Future API: return/throw/get, resolver, resolve (both forms),
// resolveSuccess, proxy, proxyErrors, detach, isResolved, wrap (function, object,
// multi, suffix, the function's own methods), fromPromise, promise().
const assert = require('node:assert/strict');
const fs = require('node:fs');
const Fiber = require('stackful/fibers');
const Future = require('stackful/future');

const f = new Future();
assert.equal(f.isResolved(), false);
assert.throws(() => f.get(), { message: 'Future must resolve before value is ready', code: 'ERR_FUTURE_PENDING' });
const calls = [];
f.resolve((err, value) => calls.push(['cb', err, value]));
f.resolveSuccess((value) => calls.push(['success', value]));
const target = new Future();
f.proxy(target);
f.return(5);
assert.deepEqual(calls, [['cb', undefined, 5], ['success', 5]]);
assert.equal(f.get(), 5);
assert.equal(target.get(), 5);
assert.throws(() => f.return(6), { message: 'Future resolved more than once', code: 'ERR_FUTURE_RESOLVED' });
assert.throws(() => new Future().throw(null), { message: 'Must throw non-empty error' });
// resolve() after resolution calls at once; resolve(future, cb) form.
f.resolve((err, value) => calls.push(['late', value]));
assert.deepEqual(calls.at(-1), ['late', 5]);
const errSink = new Future();
f.resolve(errSink, (value) => calls.push(['two-arg', value]));
assert.deepEqual(calls.at(-1), ['two-arg', 5]);

const g = new Future();
const sinkA = new Future();
const sinkB = new Future();
const one = new Future();
assert.equal(g.proxyErrors([sinkA, sinkB]), g);
g.proxyErrors(one);
const thrownInto = new Future();
g.resolve(thrownInto, () => assert.fail('not on error'));
g.resolver()(new Error('boom'));
for (const x of [sinkA, sinkB, one, thrownInto]) assert.throws(() => x.get(), { message: 'boom' });
assert.throws(() => g.resolver()(null, 1), { message: 'Future resolved more than once' });

// A listener that throws does not stop the others; its error reaches the event loop.
const h = new Future();
const order = [];
h.resolve(() => {
  order.push(1);
  throw new Error('listener failed');
});
h.resolve(() => order.push(2));
let uncaught = [];
process.on('uncaughtException', (err) => uncaught.push(err.message));
h.return();
assert.deepEqual(order, [1, 2]);

// detach()
const d = new Future();
d.detach();
d.throw(new Error('detached'));

// wrap: a function, multi, an object with a suffix, a function with methods.
function twoValues(a, cb) {
  setTimeout(() => cb(null, a, a * 2), 1);
  return 'sync return';
}
function failing(cb) {
  process.nextTick(() => cb(new Error('wrapped failure')));
}
const api = {
  base: 10,
  add(a, cb) {
    process.nextTick(() => cb(null, this.base + a));
  },
};
function withMethods(x, cb) {
  process.nextTick(() => cb(null, x));
}
withMethods.get = function (x, cb) {
  process.nextTick(() => cb(null, `get ${x}`));
};

Fiber(function () {
  const single = Future.wrap(twoValues)(3);
  assert.equal(single._, 'sync return');
  assert.equal(single.wait(), 3);
  assert.deepEqual(Future.wrap(twoValues, true)(4).wait(), [4, 8]);
  assert.throws(() => Future.wrap(failing)().wait(), { message: 'wrapped failure' });
  const wrappedApi = Future.wrap(api);
  assert.equal(wrappedApi.addFuture(5).wait(), 15);
  assert.equal(wrappedApi.base, 10);
  assert.equal(Object.getPrototypeOf(wrappedApi), api);
  const suffixed = Future.wrap(api, false, 'Sync');
  assert.equal(suffixed.addSync(1).wait(), 11);
  assert.equal(suffixed.addFuture, undefined);
  const wfs = Future.wrap(fs);
  assert.equal(wfs.readFileFuture(__filename, 'utf8').wait(), fs.readFileSync(__filename, 'utf8'));
  const wm = Future.wrap(withMethods);
  assert.equal(wm(1).wait(), 1);
  assert.equal(wm.getFuture('x').wait(), 'get x');
  assert.throws(() => Future.wrap(42), { code: 'ERR_INVALID_ARG_TYPE' });

  // Promises, both ways.
  assert.equal(Future.fromPromise(Promise.resolve('p')).wait(), 'p');
  assert.throws(() => Future.fromPromise(Promise.reject(new RangeError('rejected'))).wait(), RangeError);
  assert.throws(() => Future.fromPromise(Promise.reject(undefined)).wait(), { code: 'ERR_FUTURE_FALSY_REJECTION' });
  assert.throws(() => Future.fromPromise(42), { code: 'ERR_INVALID_ARG_TYPE' });
  const viaPromise = new Future();
  setTimeout(() => viaPromise.return('to promise'), 1);
  const failed = new Future();
  failed.throw(new Error('rejects'));
  Promise.all([viaPromise.promise(), failed.promise().catch((e) => e.message)]).then(([a, b]) => {
    assert.equal(a, 'to promise');
    assert.equal(b, 'rejects');
    setImmediate(() => {
      assert.deepEqual(uncaught, ['listener failed', 'detached']);
      console.log('pass');
    });
  });
}).run();
