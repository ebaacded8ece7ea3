// Deep recursion in a fiber throws RangeError; the process survives.
'use strict';
const { Fiber } = require('stackful');

const results = {};
function recurse(n) {
  return recurse(n + 1) + 1;
}

const f = new Fiber(() => recurse(0));
try {
  f.run();
  results.recursion = 'no error';
} catch (err) {
  results.recursion = err.constructor.name;
}
results.deadAfter = f.dead;
try {
  f.run();
} catch (err) {
  results.reuse = err.code;
}

// JSON.stringify of a very deep object: RangeError where V8 recurses (Node
// 20-24), a string where it does not (26). Inside a fiber it must do what it
// does on the main stack.
function deepJson() {
  let nested = {};
  for (let i = 0; i < 1e6; i++) nested = { nested };
  try {
    return `length ${JSON.stringify(nested).length}`;
  } catch (err) {
    return err.constructor.name;
  }
}
const onMainStack = deepJson();
results.json = new Fiber(deepJson).run() === onMainStack ? 'same as main stack' : 'differs';
// And uncaught, out of the fiber, where V8 recurses.
if (onMainStack === 'RangeError') {
  try {
    new Fiber(() => {
      let nested = {};
      for (let i = 0; i < 1e6; i++) nested = { nested };
      return JSON.stringify(nested);
    }).run();
  } catch (err) {
    results.json += ` (${err.constructor.name})`;
  }
}

// Overflow inside a small stack, caught inside the fiber.
const small = new Fiber(() => {
  try {
    recurse(0);
  } catch (err) {
    return `caught ${err.constructor.name}`;
  }
}, { stackSize: 256 * 1024 });
results.caughtInside = small.run();

// Overflow in a fiber three levels down, while its ancestors are suspended.
const outer = new Fiber(() => new Fiber(() => new Fiber(() => recurse(0)).run()).run());
try {
  outer.run();
} catch (err) {
  results.nested = err.constructor.name;
}

// Fibers still work afterwards, as does recursion on the main stack.
results.after = new Fiber((x) => x * 2).run(21);
try {
  recurse(0);
} catch (err) {
  results.mainStack = err.constructor.name;
}
console.log(JSON.stringify(results));
