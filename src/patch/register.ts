// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * Preload entry: patches everything before any user code runs.
 *   node --import stackful/register app.mjs
 *   node --require stackful/register app.js
 */
import { patchAll } from './index.js';

patchAll();
