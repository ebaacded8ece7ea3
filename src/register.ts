/**
 * Preload entry: patches everything before any user code runs.
 *   node --import stackful/register app.mjs
 *   node --require stackful/register app.js
 */
import { patchAll } from './patch.js';

patchAll();
