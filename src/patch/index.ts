// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful/patch: make Node's blocking-looking APIs yield inside fibers
 * (gevent.monkey for Node). On the root fiber, and when not patched, every
 * function behaves exactly as Node's own.
 *
 *   const { patchAll } = require('stackful/patch'); patchAll();
 *   // or, before any user code: node --import stackful/register app.js
 *   //                           node --require stackful/register app.js
 *
 * Covered so far: the `fs` *Sync family (see FS_COVERED / FS_NOT_COVERED),
 * child_process execSync / execFileSync / spawnSync, zlib's one-shot *Sync
 * functions, crypto's pbkdf2Sync, scryptSync, hkdfSync, randomFillSync and
 * generateKeyPairSync, and Atomics.wait (through Atomics.waitAsync).
 * Writes to stdout and stderr never park (see fs.ts).
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { ATOMICS_COVERED, greenAtomicsWait } from './atomics.js';
import { greenSpawnSync } from './child_process.js';
import { FS_COVERED, FS_NOT_COVERED, greenFs } from './fs.js';
import { CRYPTO_COVERED, greenCrypto, greenZlib, ZLIB_COVERED } from './work.js';

export { FS_COVERED, FS_NOT_COVERED, ZLIB_COVERED, CRYPTO_COVERED, ATOMICS_COVERED };

type AnyFunction = (...args: unknown[]) => unknown;

// The module object itself (what require('fs') and the ESM default export
// share), so that `const { readFileSync } = require('fs')` taken after
// patching gets the green function.
const nodeRequire = createRequire(__filename);
const fsModule = nodeRequire('fs') as Record<string, AnyFunction>;
const zlibModule = nodeRequire('zlib') as Record<string, AnyFunction>;
const cryptoModule = nodeRequire('crypto') as Record<string, AnyFunction>;
void fs;

/** module -> name -> original */
const originals = new Map<object, Map<string, AnyFunction>>();

function patch(module: Record<string, AnyFunction>, name: string, make: (original: AnyFunction) => AnyFunction): void {
  let saved = originals.get(module);
  if (saved === undefined) originals.set(module, (saved = new Map()));
  if (saved.has(name)) return; // already patched
  const original = module[name]!;
  saved.set(name, original);
  module[name] = make(original);
}

/** Patches every fs *Sync function that has an asynchronous twin. */
export function patchFs(): void {
  for (const name of FS_COVERED) patch(fsModule, name, (original) => greenFs(name, original));
  syncBuiltinESMExports(); // `import { readFileSync } from 'node:fs'` sees it too
}

/**
 * Patches execSync, execFileSync and spawnSync: all three end in one native
 * call, which is what gets replaced (see child_process.ts), so their
 * argument checks, return values and errors stay Node's own.
 */
export function patchChildProcess(): void {
  const binding = (process as unknown as { binding(name: string): Record<string, AnyFunction> }).binding('spawn_sync');
  patch(binding, 'spawn', (original) => greenSpawnSync(original as never) as AnyFunction);
}

/** Patches zlib's one-shot *Sync functions (gzipSync, inflateSync, brotliCompressSync, ...). */
export function patchZlib(): void {
  for (const name of ZLIB_COVERED) patch(zlibModule, name, (original) => greenZlib(name, original));
  syncBuiltinESMExports();
}

/** Patches crypto's pbkdf2Sync, scryptSync, hkdfSync, randomFillSync and generateKeyPairSync. */
export function patchCrypto(): void {
  for (const name of CRYPTO_COVERED) patch(cryptoModule, name, (original) => greenCrypto(name, original));
  syncBuiltinESMExports();
}

/**
 * Patches Atomics.wait: inside a fiber it parks only the fiber until notified
 * or timed out (see atomics.ts). Needs Atomics.waitAsync (Node 16 and later).
 */
export function patchAtomics(): void {
  if (ATOMICS_COVERED.includes('wait')) patch(Atomics as unknown as Record<string, AnyFunction>, 'wait', (original) => greenAtomicsWait(original as never) as AnyFunction);
}

/** Patches every family stackful covers. */
export function patchAll(): void {
  patchFs();
  patchChildProcess();
  patchZlib();
  patchCrypto();
  patchAtomics();
}

/** Puts every original back. */
export function unpatchAll(): void {
  for (const [module, saved] of originals) {
    for (const [name, original] of saved) (module as Record<string, AnyFunction>)[name] = original;
  }
  originals.clear();
  syncBuiltinESMExports();
}

/** Whether `name` of `module` (default: anything at all) is patched. */
export function isPatched(module?: object, name?: string): boolean {
  if (module === undefined) return originals.size > 0;
  const saved = originals.get(module === fs ? fsModule : module);
  return saved !== undefined && (name === undefined || saved.has(name));
}

/** Node's own function, patched or not. */
export function getOriginal<T extends AnyFunction>(module: object, name: string): T {
  const target = (module === fs ? fsModule : module) as Record<string, AnyFunction>;
  return (originals.get(target)?.get(name) ?? target[name]) as T;
}
