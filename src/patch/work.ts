/**
 * Green zlib and crypto: the *Sync functions whose work Node already runs on
 * libuv's thread pool when called with a callback. Inside a fiber, the
 * callback twin runs while only the calling fiber is parked; on the root
 * fiber, Node's own function. A fiber killed while it waits stops waiting;
 * the work finishes on the pool and its result is dropped.
 */
import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import { greenFromCallback, type Twin } from './adapter.js';

/** zlib's one-shot *Sync functions (those this Node has), each with a callback twin. */
export const ZLIB_COVERED: readonly string[] = [
  'deflateSync', 'inflateSync', 'gzipSync', 'gunzipSync', 'deflateRawSync', 'inflateRawSync', 'unzipSync',
  'brotliCompressSync', 'brotliDecompressSync', 'zstdCompressSync', 'zstdDecompressSync',
].filter((name) => {
  const z = zlib as unknown as Record<string, unknown>;
  return typeof z[name] === 'function' && typeof z[name.slice(0, -4)] === 'function';
});

export const CRYPTO_COVERED: readonly string[] = ['pbkdf2Sync', 'scryptSync', 'generateKeyPairSync', 'randomFillSync', 'hkdfSync'].filter(
  (name) => typeof (crypto as unknown as Record<string, unknown>)[name] === 'function',
);

export function greenZlib(name: string, original: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  return greenFromCallback(`zlib.${name}`, original, (zlib as unknown as Record<string, Twin>)[name.slice(0, -4)]!);
}

export function greenCrypto(name: string, original: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  const twin = (crypto as unknown as Record<string, Twin>)[name.slice(0, -4)]!;
  if (name === 'generateKeyPairSync') {
    // The callback gets (err, publicKey, privateKey); the sync function returns both.
    return greenFromCallback(`crypto.${name}`, original, twin, { result: ([publicKey, privateKey]) => ({ publicKey, privateKey }) });
  }
  return greenFromCallback(`crypto.${name}`, original, twin);
}
