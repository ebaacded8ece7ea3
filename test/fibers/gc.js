// node-fibers unwound a suspended fiber that became garbage. stackful cannot:
// a suspended fiber's stack is a GC root, and its own frames reference it.
// Such a fiber stays parked (not collected, its finally blocks not run) and is
// listed by listFibers() until it is reset() or the process exits.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');
const { listFibers, stats } = require('stackful');

let finallyRan = false;
let ref;
(function abandon() {
  const f = Fiber(function leftBehind() {
    try {
      Fiber.yield();
    } finally {
      finallyRan = true;
    }
  });
  f.run();
  ref = new WeakRef(f);
})();

const rounds = 5;
let n = 0;
function check() {
  globalThis.gc();
  if (++n < rounds) return setImmediate(check);
  const fiber = ref.deref();
  assert.ok(fiber !== undefined, 'a suspended fiber was collected');
  assert.equal(finallyRan, false);
  assert.equal(stats().suspended, 1);
  const listed = listFibers();
  assert.equal(listed.length, 1);
  assert.equal(listed[0].name, 'Fiber(leftBehind)');
  assert.equal(listed[0].state, 'suspended');
  // The way out: reset() it (or run it to the end).
  fiber.reset();
  assert.equal(finallyRan, true);
  assert.equal(listFibers().length, 0);

  // A fiber that never ran, or finished, is ordinary garbage.
  let unstarted = new WeakRef(Fiber(() => {}));
  let finished = (() => { const f = Fiber(() => 1); f.run(); return new WeakRef(f); })();
  let m = 0;
  (function collect() {
    globalThis.gc();
    if (unstarted.deref() === undefined && finished.deref() === undefined) return console.log('pass');
    if (++m > 50) throw new Error('unstarted or finished fibers were not collected');
    setImmediate(collect);
  })();
}
setImmediate(check);
