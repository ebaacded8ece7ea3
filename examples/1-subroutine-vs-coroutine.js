// Tutorial section 1 and 2: a subroutine against a coroutine.
//
//   node examples/1-subroutine-vs-coroutine.js
//
// A prints 1 2 3 and B prints x y z. Called as plain functions (subroutines),
// A runs to its end before B starts: one entry, one return, in call order.
// Run as two fibers, each with a machine stack of its own, A can stop in the
// middle, let B run, and carry on later where it stopped, so the output
// interleaves (1 2 x y 3 z) although A never calls B and B never calls A.
'use strict';
const { Fiber } = require('stackful');

// The only thing A and B know: `pause`, a function that may or may not hand
// control to someone else. It is a plain call, as deep as you like.
let pause = () => {};

function A() {
  console.log('1');
  console.log('2');
  pause();
  console.log('3');
}

function B() {
  console.log('x');
  console.log('y');
  pause();
  console.log('z');
}

console.log('As subroutines (plain calls):');
A();
B();

console.log('As coroutines (two fibers switching):');
// Inside a fiber, pause() suspends it (node-fibers' Fiber.yield()) and returns
// control to whoever resumed it: here, the loop below.
pause = () => Fiber.yield();
const fibers = [new Fiber(A), new Fiber(B)];
// A plain round-robin: resume each fiber that has not finished, in turn.
while (fibers.some((f) => !f.dead)) {
  for (const f of fibers) if (!f.dead) f.run();
}
