// Nested fibers that finish one right after the other (node-fibers gh-16):
// each returns its value to the fiber that ran it.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

const order = [];
const result = Fiber(function () {
  const inner = Fiber(function () {
    const innermost = Fiber(function () {
      order.push('innermost');
      return 1;
    }).run();
    order.push('inner');
    return innermost + 1;
  }).run();
  order.push('outer');
  return inner + 1;
}).run();
assert.equal(result, 3);
assert.deepEqual(order, ['innermost', 'inner', 'outer']);

// Deeper: 50 levels, each finishing as soon as its child has.
function nest(depth) {
  return Fiber(() => (depth === 0 ? 0 : nest(depth - 1).run() + 1));
}
assert.equal(nest(50).run(), 50);
assert.equal(Fiber.current, undefined);
console.log('pass');
