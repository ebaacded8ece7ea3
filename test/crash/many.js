// As many suspended fibers as asked for, with default settings; then deep
// recursion in one more must still throw RangeError. Usage: many.js <count>
'use strict';
const { Fiber, stats } = require('stackful');

const count = Number(process.argv[2] ?? 100000);
const fibers = [];
let code = null;
try {
  for (let i = 0; i < count; i++) {
    const f = new Fiber((x) => Fiber.yield(x) + 1);
    f.run(i);
    fibers.push(f);
  }
} catch (err) {
  code = err.code;
}
const reached = stats().suspended;
const deep = new Fiber(() => {
  const recurse = () => recurse() + 1;
  try {
    return recurse();
  } catch (err) {
    return err.constructor.name;
  }
});
let deepResult;
try {
  deepResult = deep.run();
} catch (err) {
  deepResult = err.code;
}
let resumed = 0;
for (let i = 0; i < fibers.length; i++) if (fibers[i].run(i) === i + 1) resumed++;
console.log(JSON.stringify({ reached, code, deep: deepResult, resumed, guardPages: stats().guardPages, live: stats().live }));
