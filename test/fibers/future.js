// Futures waited on inside a fiber of fn.future() (node-fibers' own test, and more).
const assert = require('node:assert/strict');
const Future = require('stackful/future');

function timer(ms) {
  const future = new Future();
  const ret = () => future.return(ms);
  if (ms) setTimeout(ret, ms);
  else process.nextTick(ret);
  return future;
}

(function () {
  const t = timer(10);
  const tick = timer(0);
  Future.wait(t, tick);
  assert.equal(t.get(), 10);
  assert.equal(tick.get(), 0);
  assert.equal(timer(5).wait(), 5);
  return 'pass';
}).future()().resolve(function (err, val) {
  if (err) throw err;
  console.log(val);
});
