/**
 * read-file-sync: 1,000 small files read at once, in one process, three ways.
 *
 * One operation: one file read (1 KiB); every call reads all 1,000 files of a
 * temporary directory made before timing and removed after.
 *
 * - fiber: 1,000 greenlets, one per file, each calling fs.readFileSync
 *   patched by stackful/patch's patchFs(), which parks only the calling
 *   greenlet while fs.readFile runs; joinAll waits for them. The time
 *   includes spawning and finishing the 1,000 greenlets;
 * - async: Promise.all of fs.promises.readFile over the 1,000 files;
 * - blocking: Node's own fs.readFileSync in a loop on the main thread, which
 *   holds the event loop for the whole call (the baseline: no concurrency).
 * No generator column: a generator cannot wait for a file by itself, it needs
 * a driver that awaits a promise for it, which is the async column again.
 *
 * Each implementation returns a checksum of the bytes it read (length, the
 * file's number written in its first 4 bytes, its last 4 bytes), checked
 * against the one computed when the files were written: a call that reads
 * nothing, or the wrong files, fails the case instead of reporting a time.
 * The fiber call also fails if no two reads were ever in flight at once,
 * that is if readFileSync was not patched and blocked the loop.
 *
 * The second row runs the same calls while a 1 ms setInterval keeps firing,
 * and the third says how long that timer waited at most during one call:
 * what the event loop was denied.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { joinAll, runInFiber, spawn } from 'stackful';
import { patchFs, unpatchAll } from 'stackful/patch';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'readFileSync of 1,000 small files',
  operation: 'one 1 KiB file read (every call reads 1,000 different files)',
};

const FILES = 1000;
const FILE_SIZE = 1024;

// Taken before patchFs() replaces it: the blocking column is Node's own function, not the patched one on the root fiber.
const nodeReadFileSync = fs.readFileSync;

let files: string[] = [];
/** expected[n]: the checksum of reading the first n files. */
let expected: number[] = [];

function checksum(data: Buffer): number {
  return data.length + data.readUInt32LE(0) + data.readUInt32LE(data.length - 4);
}

/** 1 KiB of xorshift32 noise per file, its number in the first 4 bytes: no two files alike. */
function makeFiles(dir: string): void {
  files = [];
  expected = [0];
  let x = 0x9e3779b9;
  for (let i = 0; i < FILES; i++) {
    const data = Buffer.alloc(FILE_SIZE);
    for (let k = 0; k < FILE_SIZE; k += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data.writeUInt32LE(x >>> 0, k);
    }
    data.writeUInt32LE(i, 0);
    const file = path.join(dir, `${String(i).padStart(4, '0')}.bin`);
    fs.writeFileSync(file, data);
    files.push(file);
    expected.push(expected[i]! + checksum(data));
  }
}

function checkOps(ops: number): void {
  if (ops > files.length) throw new Error(`read-file-sync: asked to read ${ops} files, only ${files.length} were made`);
}

function fiber(ops: number): Promise<number> {
  checkOps(ops);
  return runInFiber(() => {
    let sum = 0;
    let inFlight = 0;
    let peak = 0;
    const read = (file: string): void => {
      if (++inFlight > peak) peak = inFlight;
      const data = fs.readFileSync(file);
      inFlight--;
      sum += checksum(data);
    };
    const readers = [];
    for (let i = 0; i < ops; i++) readers.push(spawn(read, files[i]!));
    joinAll(readers, { raiseError: true });
    if (ops > 1 && peak < 2) {
      throw new Error('read-file-sync: fiber: no two readFileSync calls were ever in flight at once: fs.readFileSync blocked instead of parking its fiber (not patched?)');
    }
    return sum;
  });
}

async function async(ops: number): Promise<number> {
  checkOps(ops);
  const reads: Array<Promise<Buffer>> = [];
  for (let i = 0; i < ops; i++) reads.push(fs.promises.readFile(files[i]!));
  let sum = 0;
  for (const data of await Promise.all(reads)) sum += checksum(data);
  return sum;
}

function blocking(ops: number): number {
  checkOps(ops);
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += checksum(nodeReadFileSync(files[i]!));
  return sum;
}

export const readFiles: Workload = { fiber, async, blocking };

/** Each implementation, failing unless its checksum is that of the files as written. */
function verified(workload: Workload): Workload {
  const check = (name: string, ops: number, sum: number): number => {
    if (sum !== expected[ops]) throw new Error(`read-file-sync: ${name} read ${ops} files with checksum ${sum}; the files as written have ${expected[ops]}`);
    return sum;
  };
  return Object.fromEntries(
    Object.entries(workload).map(([name, fn]) => [
      name,
      (ops: number) => {
        const result = fn(ops);
        return typeof result === 'number' ? check(name, ops, result) : result.then((sum) => check(name, ops, sum));
      },
    ]),
  );
}

/** A 1 ms setInterval that keeps the longest time it went without firing. */
class Ticker {
  #last = performance.now();
  #longest = 0;
  readonly #timer = setInterval(() => this.#mark(), 1);

  #mark(): void {
    const now = performance.now();
    if (now - this.#last > this.#longest) this.#longest = now - this.#last;
    this.#last = now;
  }

  /** Stops the timer; returns the longest wait in ms, the time since its last tick included. */
  stop(): number {
    clearInterval(this.#timer);
    this.#mark();
    return this.#longest;
  }
}

/** Each implementation with a 1 ms timer running for the length of the call; `waits` gets its longest wait per call. */
function withTicker(workload: Workload, waits?: Record<string, number[]>): Workload {
  return Object.fromEntries(
    Object.entries(workload).map(([name, fn]) => [
      name,
      async (ops: number) => {
        const ticker = new Ticker();
        try {
          return await fn(ops);
        } finally {
          const longest = ticker.stop();
          if (waits !== undefined) (waits[name] ??= []).push(longest);
        }
      },
    ]),
  );
}

export async function measure(ctx: Context): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-bench-read-file-sync-'));
  try {
    makeFiles(dir);
    patchFs();
    const workload = verified(readFiles);
    await ctx.time('read 1,000 files at once', workload, { ops: FILES, unit: 'µs' });
    await ctx.time('the same, a 1 ms setInterval running', withTicker(workload), { ops: FILES, unit: 'µs' });
    // Apart from the timed runs, so every sample is one call of 1,000 files on a warmed-up implementation.
    const waits: Record<string, number[]> = {};
    const ticked = withTicker(workload, waits);
    for (let r = 0; r < ctx.pick(5, 15); r++) {
      for (const name of Object.keys(ticked)) await ticked[name]!(FILES);
    }
    for (const [impl, samples] of Object.entries(waits)) {
      ctx.record({ row: 'longest wait of that 1 ms timer during one call (1,000 files)', unit: 'ms', impl, samples, ops: FILES, chart: false });
    }
    ctx.note(
      'the async column uses fs.promises.readFile, which reads through a FileHandle in several steps; patched readFileSync in a fiber runs the callback fs.readFile, ' +
        'so the two columns differ in the Node API under them as well as in fibers against promises',
    );
    ctx.note('no generator column: a generator cannot wait for I/O by itself; driving it through promises would be the async column again');
  } finally {
    unpatchAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
