// A generator built from a fiber: run() bound to the fiber is the "next" function.
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

function fibonacci() {
  return Fiber.prototype.run.bind(Fiber(function () {
    Fiber.yield(0);
    let prev = 0;
    let curr = 1;
    for (;;) {
      Fiber.yield(curr);
      [prev, curr] = [curr, prev + curr];
    }
  }));
}

const next = fibonacci();
const results = [];
for (let n = next(); n <= 1597; n = next()) results.push(n);
assert.equal(results.join(','), '0,1,1,2,3,5,8,13,21,34,55,89,144,233,377,610,987,1597');
console.log('pass');
