// A fiber that yields inside an async scope (AsyncResource.runInAsyncScope)
// leaves Node's async-id stack as it found it (async hooks checks are on by
// default, and would abort the process otherwise), and AsyncLocalStorage
// stores stay with the fiber that set them. (Inside a fiber, stackful applies
// a scope's stores but does not push its async id: see src/core/context.ts.)
'use strict';
const assert = require('node:assert/strict');
const { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId } = require('node:async_hooks');
const Fiber = require('stackful/fibers');

const inits = [];
createHook({ init(id, type) { if (type === 'TestResource') inits.push(id); } }).enable();

class TestResource extends AsyncResource {
  constructor() {
    super('TestResource');
  }
}

const rootId = executionAsyncId();
let insideId;
let resumedId;
const tmp = Fiber(function () {
  const resource = new TestResource();
  resource.runInAsyncScope(function () {
    insideId = executionAsyncId();
    Fiber.yield();
    resumedId = executionAsyncId();
  });
});
tmp.run();
assert.equal(executionAsyncId(), rootId);
assert.equal(inits.length, 1);
assert.equal(typeof insideId, 'number');

const als = new AsyncLocalStorage();
const seen = [];
const a = Fiber(function () {
  als.run('a', () => {
    seen.push(als.getStore());
    Fiber.yield();
    seen.push(als.getStore());
  });
});
const b = Fiber(function () {
  seen.push(als.getStore());
  als.enterWith('b');
  Fiber.yield();
  seen.push(als.getStore());
});
als.run('root', () => {
  a.run();
  b.run(); // created outside the run: no store
  seen.push(als.getStore());
});

setTimeout(function () {
  const timerId = executionAsyncId();
  tmp.run();
  assert.equal(executionAsyncId(), timerId);
  assert.equal(typeof resumedId, 'number');
  a.run();
  b.run();
  assert.deepEqual(seen, ['a', undefined, 'root', 'a', 'b']);
  assert.equal(als.getStore(), undefined);
  console.log('pass');
}, 5);
