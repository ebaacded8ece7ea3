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
  /** Operations per call of an implementation; the same for every implementation. */
  ops: number;
  unit?: 'ns' | 'µs';
  /** Runs kept (after warm-up); default 5 quick, 15 full. */
  runs?: number;
}

type GcFunction = (options?: { type: 'minor' | 'major' }) => void;

/** V8's gc(), there with node --expose-gc: gc() is a full GC, gc({ type: 'minor' }) a scavenge. */
export const gc: GcFunction = (() => {
  const fn = (globalThis as { gc?: GcFunction }).gc;
  if (typeof fn !== 'function') throw new Error('the benchmark needs node --expose-gc (run it with `npm run bench`)');
  return fn;
})();

const NS_PER: Record<'ns' | 'µs', number> = { ns: 1, µs: 1e3 };
/** Warm-up time per implementation, at least (and at least 3 calls). */
const WARM_UP_MS: Record<Mode, number> = { quick: 30, full: 300 };
/** A timed run lasts at least this long: a fast implementation makes more calls per run. */
const MIN_RUN_MS: Record<Mode, number> = { quick: 5, full: 40 };

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
   * Times every implementation of `workload` on the same number of operations
   * per call. First each is warmed up (WARM_UP_MS, so the JIT has settled) and
   * its calls are grouped into runs of at least MIN_RUN_MS, so that a fast
   * implementation is not timed over a few microseconds. Then the runs: in
   * rotating order, so no implementation always goes first, each after a full
   * GC. Every call must return the same checksum, or the case fails: that is
   * the check that the implementations all do the same work.
   */
  async time(row: string, workload: Workload, options: TimeOptions): Promise<Record<string, number[]>> {
    const { ops, unit = 'ns' } = options;
    const runs = options.runs ?? this.pick(5, 15);
    const names = Object.keys(workload);
    let expected: number | undefined;
    const call = async (name: string): Promise<void> => {
      const result = workload[name]!(ops);
      const sum = typeof result === 'number' ? result : await result;
      expected ??= sum;
      if (sum !== expected) {
        throw new Error(`${row}: ${name} returned checksum ${sum} for ${ops} operations where ${names[0]} returned ${expected}: the implementations do not do the same work`);
      }
    };
    const calls: Record<string, number> = {};
    for (const name of names) {
      let spent = 0;
      let last = 0;
      for (let i = 0; i < 3 || spent < WARM_UP_MS[this.mode] * 1e6; i++) {
        const start = process.hrtime.bigint();
        await call(name);
        last = Number(process.hrtime.bigint() - start);
        spent += last;
      }
      calls[name] = Math.max(1, Math.ceil((MIN_RUN_MS[this.mode] * 1e6) / last));
    }
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(r + k) % names.length]!;
        const n = calls[name]!;
        gc();
        const start = process.hrtime.bigint();
        for (let c = 0; c < n; c++) await call(name);
        const elapsed = Number(process.hrtime.bigint() - start);
        samples[name]!.push(elapsed / (ops * n) / NS_PER[unit]);
      }
    }
    for (const name of names) this.record({ row, unit, impl: name, samples: samples[name]!, ops: ops * calls[name]! });
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
