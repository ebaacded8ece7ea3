// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful/timers: waiting for time to pass, blocking only the calling fiber
 * (gevent.sleep, or Python's time.sleep under gevent's monkey-patching).
 *
 *   const { sleep } = require('stackful/timers');
 *   spawn(() => { sleep(100); console.log('100 ms later'); });
 *
 * `sleep(ms = 0)` parks the fiber on a Node timer; `sleep(0)` lets every other
 * ready fiber run once first. On the root fiber it throws `FiberError`
 * `ERR_BLOCKING_ON_ROOT`. It is the same function as `require('stackful').sleep`.
 * Deadlines for other blocking calls are `Timeout` and `withTimeout` from
 * 'stackful'; waiting for a promise is `wait`.
 */
export { sleep } from '../hub/hub.js';
