// process.title set inside a fiber (node-fibers gh-10).
const assert = require('node:assert/strict');
const Fiber = require('stackful/fibers');

const title = process.title;
Fiber(function () {
  process.title = 'stackful-fibers-title';
}).run();
assert.ok(process.title === 'stackful-fibers-title' || process.title === title, process.title);
console.log('pass');
