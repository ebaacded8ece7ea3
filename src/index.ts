// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful: real stackful fibers for Node.js.
 */
export { Fiber, getcurrent, listFibers, setTraceCreation, stats } from './core/fiber.js';
export type { FiberInfo, FiberOptions, FiberState, Stats, StatsCounters, StatsDiagnostics } from './core/fiber.js';
export { FiberError, FiberExit, NativeBinaryError, UnsupportedRuntimeError } from './core/errors.js';
export { runtime, checkRuntime, SUPPORTED_V8, SUPPORTED_PLATFORMS, OVERRIDE_ENV } from './core/native.js';
export type { RuntimeInfo, RuntimeFacts } from './core/native.js';
export { sleep, wait, callSoon, Waiter } from './hub/hub.js';
export { Greenlet, spawn, spawnLater, joinAll, killAll, iwait, runInFiber, setSpawnSites } from './hub/greenlet.js';
export type { GreenletState } from './hub/greenlet.js';
export { Timeout, TimeoutError, withTimeout } from './hub/timeout.js';
export { SyncError, QueueFull, QueueEmpty } from './core/errors.js';
export { Event, AsyncResult } from './sync/event.js';
export { Semaphore, BoundedSemaphore } from './sync/semaphore.js';
export { Lock, RLock } from './sync/lock.js';
export { Queue, JoinableQueue, Channel } from './sync/queue.js';
export { Group, Pool } from './sync/pool.js';
export { local } from './sync/local.js';
export type { BlockOptions } from './hub/park.js';
