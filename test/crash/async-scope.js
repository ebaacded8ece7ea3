// A fiber that switches away inside AsyncResource#runInAsyncScope and is
// resumed later from a timer must not corrupt Node's async-hooks stack (run
// with --force-async-hooks-checks), and keeps the resource's stores in scope.
'use strict';
const { AsyncLocalStorage, AsyncResource } = require('node:async_hooks');
const { spawn, sleep, joinAll, runInFiber } = require('stackful');

const als = new AsyncLocalStorage();
const results = [];
runInFiber(() => {
  const workers = [1, 2, 3].map((n) => spawn(() => {
    als.enterWith(`fiber ${n}`);
    const resource = als.run(`resource ${n}`, () => new AsyncResource('test'));
    const inScope = resource.runInAsyncScope(() => {
      const before = als.getStore();
      sleep(5 * n); // back to the hub, resumed from a timer
      return [before, als.getStore()];
    });
    const bound = resource.bind(() => {
      sleep(1);
      return als.getStore();
    });
    return [...inScope, bound(), als.getStore()];
  }));
  joinAll(workers, { raiseError: true });
  for (const w of workers) results.push(w.value);
}).then(() => {
  // The event loop's own scopes still nest correctly afterwards.
  setTimeout(() => new AsyncResource('after').runInAsyncScope(() => {
    console.log(JSON.stringify(results));
  }), 1);
});
