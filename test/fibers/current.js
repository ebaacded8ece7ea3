// Fiber.current; Fiber() with and without `new`; properties set on a fiber are
// kept (Meteor keeps its dynamics on Fiber.current); a finished fiber runs again.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

assert.equal(Fiber.current, undefined);
let current;
const f = Fiber(function (arg) {
  current = Fiber.current;
  assert.equal(arg, 'start');
  assert.equal(Fiber.current.started, true);
  Fiber.current._meteor_dynamics = ['dyn'];
  const back = Fiber.yield('yielded');
  assert.deepEqual(Fiber.current._meteor_dynamics, ['dyn']);
  return back * 2;
});
assert.ok(f instanceof Fiber);
assert.equal(f.started, false);
assert.equal(f.run('start'), 'yielded');
assert.equal(current, f);
assert.equal(f.started, true);
assert.equal(f.run(21), 42);
assert.equal(f.started, false);
assert.deepEqual(f._meteor_dynamics, ['dyn']);

const g = new Fiber(function () {
  return arguments.length;
});
assert.ok(g instanceof Fiber);
assert.equal(g.constructor, Fiber);
assert.equal(g.run(), 0); // run() without an argument: fn gets none
assert.equal(g.run(undefined), 1); // finished fibers start again (node-fibers' documented behaviour)

// A subclass keeps its methods.
class Named extends Fiber {
  label() {
    return 'named';
  }
}
const named = new Named(() => Fiber.current.label());
assert.ok(named instanceof Named && named instanceof Fiber);
assert.equal(named.run(), 'named');

// `this` in the function is the global object, as in node-fibers.
assert.equal(Fiber(function () { return this; }).run(), globalThis);

// Nested: Fiber.current is the innermost; yield goes back to whoever resumed.
const outer = Fiber(function () {
  const self = Fiber.current;
  const inner = Fiber(function () {
    assert.notEqual(Fiber.current, self);
    Fiber.yield('from inner');
    return 'inner done';
  });
  assert.equal(inner.run(), 'from inner');
  assert.equal(Fiber.current, self);
  assert.equal(Fiber.yield('outer paused'), 'go');
  return inner.run(); // outer resumes inner, which finishes into outer
});
assert.equal(outer.run(), 'outer paused');
assert.equal(outer.run('go'), 'inner done');

// throwInto: the pending yield throws; what the fiber does next comes back.
const t = Fiber(function () {
  try {
    Fiber.yield();
  } catch (err) {
    Fiber.yield(`caught ${err.message}`);
  }
  throw new Error('second');
});
t.run();
assert.equal(t.throwInto(new Error('first')), 'caught first');
assert.throws(() => t.run(), { message: 'second' });
const u = Fiber(() => {
  try {
    Fiber.yield();
  } catch (err) {
    return err;
  }
});
u.run();
assert.equal(u.throwInto(), undefined); // throwInto() with no argument throws undefined
assert.throws(() => { const v = Fiber(() => Fiber.yield()); v.run(); v.throwInto(new RangeError('r')); }, RangeError);

assert.equal(typeof Fiber.fibersCreated, 'number');
assert.equal(Fiber.poolSize, 120);
Fiber.poolSize = 10;
assert.equal(Fiber.poolSize, 10);
assert.throws(() => { Fiber.poolSize = -1; }, { code: 'ERR_OUT_OF_RANGE' });
assert.equal(Fiber.poolSize, 10);
console.log('pass');
