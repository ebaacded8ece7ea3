/**
 * The measuring side, used inside a child process by the case files: time a
 * workload several ways, park many coroutines, time a GC. Everything recorded
 * goes back to the runner as raw per-run samples (see types.ts).
 */
import * as fs from 'node:fs';
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
  /** Why parking stopped short of the target, if it did. */
  stoppedBy: 'ERR_FIBER_STACK' | 'mappings' | undefined;
  /** The ERR_FIBER_STACK message, or how many mappings were left. */
  detail: string | undefined;
  released: number;
}

export interface ParkOptions {
  /**
   * Stop while this many memory mappings are still free under
   * vm.max_map_count (for fibers: each holds two, its stack and guard page).
   */
  keepMappings?: number;
}

/**
 * Memory mappings to leave free when parking fibers for a measurement. With
 * none left V8 cannot map a page and aborts the process: in a full GC
 * ("NewSpace::EnsureCurrentCapacity Allocation failed", 32,607 fibers 20
 * frames deep), in stackful's GC prologue (std::bad_alloc from
 * heap::base::Stack::AddStackSegment), or when the JIT installs code
 * (Factory::CodeBuilder::AllocateInstructionStream), and the last one can
 * happen before ERR_FIBER_STACK is thrown (bench/README.md, "Limits").
 */
export const MAPPING_HEADROOM = 2048;

/** Fibers finished after ERR_FIBER_STACK, to give V8 back some mappings. */
export const HEADROOM_FIBERS = 256;

export function maxMapCount(): number | undefined {
  try {
    return Number(fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8'));
  } catch {
    return undefined;
  }
}

function mappingsInUse(): number {
  const maps = fs.readFileSync('/proc/self/maps');
  let lines = 0;
  for (let i = 0; i < maps.length; i++) if (maps[i] === 10) lines++;
  return lines;
}

/**
 * Starts coroutines with `start()` until `target` are suspended. Stops early
 * when `keepMappings` says so, and, without crashing, when a fiber cannot get
 * a stack (ERR_FIBER_STACK); after that it `release`s HEADROOM_FIBERS of them.
 */
export function park<T>(target: number, start: (i: number) => T, release: (item: T) => void, options: ParkOptions = {}): Parked<T> {
  const items: T[] = [];
  const limit = options.keepMappings !== undefined ? maxMapCount() : undefined;
  let stoppedBy: Parked<T>['stoppedBy'];
  let detail: string | undefined;
  let checkAt = 0;
  try {
    for (let i = 0; i < target; i++) {
      if (limit !== undefined && i >= checkAt) {
        const free = limit - mappingsInUse();
        if (free <= options.keepMappings!) {
          stoppedBy = 'mappings';
          detail = `${formatCount(free)} of vm.max_map_count = ${formatCount(limit)} mappings left`;
          break;
        }
        // Each fiber takes two mappings, V8 a few more: look again well before they can run out.
        checkAt = i + Math.max(32, Math.floor((free - options.keepMappings!) / 4));
      }
      items.push(start(i));
    }
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_FIBER_STACK') throw err;
    stoppedBy = 'ERR_FIBER_STACK';
    detail = `${(err as Error).name}: ${(err as Error).message}`;
  }
  const reached = items.length;
  let released = 0;
  if (stoppedBy === 'ERR_FIBER_STACK') {
    for (; released < HEADROOM_FIBERS && items.length > 0; released++) release(items.pop()!);
  }
  return { items, reached, stoppedBy, detail, released };
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
