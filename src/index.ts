/**
 * stackful: real stackful fibers for Node.js.
 */
export { Fiber, getcurrent, listFibers, setTraceCreation, stats } from './fiber.js';
export type { FiberInfo, FiberOptions, FiberState, Stats } from './fiber.js';
export { FiberError, FiberExit, UnsupportedRuntimeError } from './errors.js';
export { runtime, checkRuntime, SUPPORTED_V8, SUPPORTED_PLATFORMS, OVERRIDE_ENV } from './native.js';
export type { RuntimeInfo, RuntimeFacts } from './native.js';
