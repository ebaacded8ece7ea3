// Unbounded recursion in a fiber throws RangeError out of run(); fibers keep
// working afterwards, including a stack-heavy regular expression near the limit.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

let err;
try {
  Fiber(function () {
    function foo() {
      const hello = Math.random();
      foo(hello);
    }
    foo();
  }).run();
} catch (e) {
  err = e;
}
assert.equal(err?.name, 'RangeError');

// Near the limit, then a native operation that needs stack.
Fiber(function () {
  let max = 0;
  (function probe() {
    ++max;
    try {
      probe();
    } catch {}
  })();
  const source = 'a'.repeat(1024);
  for (let depth = max; depth > 0; depth -= Math.max(1, depth >> 4)) {
    try {
      (function waste(n) {
        if (n) waste(n - 1);
        else new RegExp(source, 'g');
      })(depth);
      break;
    } catch {}
  }
}).run();

// More fibers, and another overflow, after it.
let sum = 0;
for (let i = 0; i < 100; i++) {
  const f = Fiber((x) => Fiber.yield(x) + 1);
  sum += f.run(i);
  sum += f.run(i);
}
assert.equal(sum, 2 * 4950 + 100);
assert.throws(() => Fiber(function deep() { return deep() + 1; }).run(), RangeError);
console.log('pass');
