/**
 * Green fs: inside a fiber, each patched `fs.*Sync` call starts its callback
 * twin (`fs.readFile` for `fs.readFileSync`, ...) and parks only the calling
 * fiber until it completes; on the root fiber it is the original function,
 * untouched. Argument checking is the twin's, which Node shares with the sync
 * function, so bad input throws the same TypeError with the same `code`; I/O
 * errors carry the same `code`, `errno`, `syscall` and `path`.
 *
 * A fiber killed while it waits stops waiting at once; the operation itself
 * runs to its end on libuv's thread pool (fs calls cannot be cancelled), and
 * what it returns is dropped, except a file descriptor, which is closed.
 */
import * as fs from 'node:fs';
import { greenFromCallback, type Callback, type Recipe, type Twin } from './adapter.js';

const closeFd = (results: unknown[]): void => {
  if (typeof results[0] === 'number') fs.close(results[0], () => {});
};

const recipes: Record<string, Recipe> = {
  accessSync: {},
  appendFileSync: {},
  chmodSync: {},
  chownSync: {},
  closeSync: {},
  copyFileSync: {},
  cpSync: {},
  existsSync: {},
  fchmodSync: {},
  fchownSync: {},
  fdatasyncSync: {},
  fstatSync: {},
  fsyncSync: {},
  ftruncateSync: {},
  futimesSync: {},
  lchownSync: {},
  linkSync: {},
  lstatSync: {
    rescue: (err, args) => (err.code === 'ENOENT' && (args[1] as { throwIfNoEntry?: boolean } | undefined)?.throwIfNoEntry === false ? { value: undefined } : undefined),
  },
  lutimesSync: {},
  mkdirSync: {},
  mkdtempSync: {},
  openSync: { late: closeFd },
  opendirSync: { late: (results) => (results[0] as fs.Dir | undefined)?.close(() => {}) },
  readdirSync: {},
  readFileSync: {},
  readlinkSync: {},
  readSync: {},
  readvSync: {},
  realpathSync: {},
  renameSync: {},
  rmdirSync: {},
  rmSync: {},
  statfsSync: {},
  statSync: {
    rescue: (err, args) => (err.code === 'ENOENT' && (args[1] as { throwIfNoEntry?: boolean } | undefined)?.throwIfNoEntry === false ? { value: undefined } : undefined),
  },
  symlinkSync: {},
  truncateSync: {},
  unlinkSync: {},
  utimesSync: {},
  writeFileSync: {},
  writeSync: {},
  writevSync: {},
};

/** existsSync has no error-first twin: it is access() that never throws. */
function existsTwin(path: unknown, callback: Callback): void {
  try {
    fs.access(path as fs.PathLike, (err) => callback(null, err === null));
  } catch {
    callback(null, false);
  }
}

/** The sync function names this module can patch, and those it cannot. */
export const FS_COVERED: readonly string[] = Object.keys(recipes).filter((name) => typeof (fs as unknown as Record<string, unknown>)[name] === 'function');
export const FS_NOT_COVERED: readonly string[] = Object.keys(fs).filter((name) => name.endsWith('Sync') && !FS_COVERED.includes(name));

/**
 * The calls that may write to a descriptor given as their first argument.
 * Writes to stdout and stderr never park: Node makes process.stdout and
 * process.stderr synchronous on purpose when they are files (its
 * SyncWriteStream calls fs.writeSync), so console.log keeps its order, loses
 * nothing when a fiber that logs is killed, and does not queue behind a busy
 * libuv thread pool (issue #15.3).
 */
const FD_WRITERS = new Set(['writeSync', 'writevSync', 'fsyncSync', 'fdatasyncSync', 'writeFileSync', 'appendFileSync']);

/**
 * process.stdout and process.stderr always write to fds 1 and 2 (Node's
 * getStdout/getStderr); reading them here would create the streams.
 */
const isStdio = (fd: unknown): boolean => fd === 1 || fd === 2;

/** Builds the green version of `fs[name]`, calling `original` on the root fiber. */
export function greenFs(name: string, original: (...args: unknown[]) => unknown): (...args: unknown[]) => unknown {
  const twin: Twin = name === 'existsSync' ? (existsTwin as Twin) : ((fs as unknown as Record<string, Twin>)[name.slice(0, -4)]!);
  const recipe = recipes[name]!;
  if (FD_WRITERS.has(name)) recipe.inPlace = (args) => isStdio(args[0]);
  return greenFromCallback(`fs.${name}`, original, twin, recipe);
}
