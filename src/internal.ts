/**
 * Knobs for stackful's own tests and benchmarks. Not in package.json's
 * `exports`, so not part of the public API: import it by path
 * (`../dist/internal.js`), from the same build as `stackful` itself.
 */
export { setDrainSlice } from './hub/hub.js';
export { liveFibers } from './core/fiber.js';
