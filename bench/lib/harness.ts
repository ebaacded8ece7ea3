/**
 * The measuring side, used inside a child process by the case files: time a
 * workload several ways, park many coroutines, time a GC. Everything recorded
 * goes back to the runner as raw per-run samples (see types.ts).
 */
import { performance } from 'node:perf_hooks';
import type { Cell, Mode } from './types.js';

/** One workload, several implementations. Each runs `ops` operations and returns a checksum. */
export type Workload = Record<string, (ops: number) => number | Promise<number>>;

export interface TimeOptions {
  /** Operations per run; the same for every implementation. */
  ops: number;
  unit?: 'ns' | 'µs';
  /** Runs kept (after warm-up); default 5 quick, 15 full. */
  runs?: number;
}

const gc: (options?: { type: 'minor' | 'major' }) => void = (() => {
  const fn = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
  if (typeof fn !== 'function') throw new Error('the benchmark needs node --expose-gc (run it with `npm run bench`)');
  return fn;
})();

export { gc };

const NS_PER: Record<'ns' | 'µs', number> = { ns: 1, µs: 1e3 };

export class Context {
  readonly cells: Cell[] = [];
  readonly notes: string[] = [];

  constructor(readonly mode: Mode) {}

  get quick(): boolean {
    return this.mode === 'quick';
  }

  /** The quick-mode value or the full-mode one. */
  pick<T>(quick: T, full: T): T {
    return this.quick ? quick : full;
  }

  record(cell: Cell): void {
    this.cells.push(cell);
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /**
   * Times every implementation of `workload` on the same number of operations:
   * warm-up runs first, then measured runs in rotating order (so no
   * implementation always goes first after a GC), each preceded by a full GC.
   * Every implementation must return the same checksum, or the case fails:
   * that is the check that they all did the same work.
   */
  async time(row: string, workload: Workload, options: TimeOptions): Promise<Record<string, number[]>> {
    const { ops, unit = 'ns' } = options;
    const runs = options.runs ?? this.pick(5, 15);
    const warmups = this.pick(1, 3);
    const names = Object.keys(workload);
    let expected: { impl: string; sum: number } | undefined;
    for (const name of names) {
      for (let i = 0; i < warmups; i++) {
        const sum = await workload[name]!(ops);
        if (expected === undefined) expected = { impl: name, sum };
        else if (sum !== expected.sum) {
          throw new Error(`${row}: ${name} returned checksum ${sum} for ${ops} operations, ${expected.impl} returned ${expected.sum}: the implementations do not do the same work`);
        }
      }
    }
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(r + k) % names.length]!;
        gc();
        const start = process.hrtime.bigint();
        const result = workload[name]!(ops);
        if (typeof result !== 'number') await result;
        const elapsed = Number(process.hrtime.bigint() - start);
        samples[name]!.push(elapsed / ops / NS_PER[unit]);
      }
    }
    for (const name of names) this.record({ row, unit, impl: name, samples: samples[name]!, ops });
    return samples;
  }
}

/** Duration of one call in milliseconds, by performance.now(). */
export function timeMs(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

export interface Parked<T> {
  items: T[];
  /** How many were suspended at the peak (before any were released). */
  reached: number;
  /** The error that stopped parking early, if any. */
  stoppedBy: string | undefined;
  released: number;
}

/**
 * Fibers left unfinished when parking stops at the kernel's mapping limit.
 * Parking up to the very last mapping leaves none for V8's own heap: the next
 * full GC then dies with "NewSpace::EnsureCurrentCapacity Allocation failed"
 * (seen with 32,607 fibers suspended 20 frames deep). Finishing this many
 * frees two mappings each (bench/README.md, "Limits").
 */
export const HEADROOM_FIBERS = 256;

/**
 * Starts coroutines with `start()` until `target` are suspended. Stops early,
 * without crashing, when a fiber cannot get a stack (ERR_FIBER_STACK), then
 * `release`s HEADROOM_FIBERS of them so the GC can still map memory.
 */
export function park<T>(target: number, start: (i: number) => T, release: (item: T) => void): Parked<T> {
  const items: T[] = [];
  let stoppedBy: string | undefined;
  try {
    for (let i = 0; i < target; i++) items.push(start(i));
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_FIBER_STACK') throw err;
    stoppedBy = `${(err as Error).name}: ${(err as Error).message}`;
  }
  const reached = items.length;
  let released = 0;
  if (stoppedBy !== undefined) {
    for (; released < HEADROOM_FIBERS && items.length > 0; released++) release(items.pop()!);
  }
  return { items, reached, stoppedBy, released };
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
