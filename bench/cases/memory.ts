/**
 * memory: what one suspended coroutine costs while it waits.
 *
 * One operation: one coroutine started and left suspended: a fiber parked in
 * Fiber.yield(), a generator parked at a yield, an async function pending on
 * an await of a promise nobody resolves. The target is 100,000 of them (10,000
 * with --quick), each kind in its own fresh process; the cost per coroutine is
 * the growth of RSS and of V8's used heap, each measured after two full GCs,
 * divided by the number suspended.
 *
 * Fibers also hit a limit: each suspended fiber holds two memory mappings
 * (its stack and its guard page), so with vm.max_map_count at its default of
 * 65,530 creating one fails near 32,000 with ERR_FIBER_STACK. The case catches
 * that, reports the count reached, and measures the fibers it has.
 */
import * as fs from 'node:fs';
import { Fiber, stats } from 'stackful';
import { formatCount, gc, park, type Context } from '../lib/harness.js';
import type { CaseAbout, JobParams, Mode } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Memory per suspended coroutine',
  operation: 'one coroutine started and left suspended (its share of RSS and of the V8 heap)',
};

interface Parker<T> {
  /** Starts one coroutine and leaves it suspended. */
  start(): T;
  /** Lets one finish (only used to make room when fibers run out of stacks). */
  release(item: T): void;
}

const parkedFiber = (): unknown => Fiber.yield();
function* parkedGenerator(): Generator<undefined, void> {
  yield;
}
const forever = new Promise<void>(() => {});
async function parkedAsync(): Promise<void> {
  await forever;
}

export const suspended: Record<string, Parker<unknown>> = {
  fiber: {
    start() {
      const f = new Fiber(parkedFiber);
      f.run();
      return f;
    },
    release: (f) => (f as Fiber).kill(),
  },
  generator: {
    start() {
      const g = parkedGenerator();
      g.next();
      return g;
    },
    release: (g) => void (g as Generator).return(undefined),
  },
  async: {
    start: () => parkedAsync(),
    release() {},
  },
};

const IMPLS = Object.keys(suspended);
let holding: unknown;

export function target(mode: Mode): number {
  return mode === 'quick' ? 10_000 : 100_000;
}

/** One fresh process per implementation and per run: a heap that held one kind must not hold the next. */
export function jobs(mode: Mode): JobParams[] {
  const runs = mode === 'quick' ? 1 : 3;
  return Array.from({ length: runs }, (_, run) => IMPLS.map((impl) => ({ impl, run }))).flat();
}

function maxMapCount(): string {
  try {
    return fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export async function measure(ctx: Context, params: JobParams): Promise<void> {
  const impl = String(params.impl);
  const parker = suspended[impl];
  if (parker === undefined) throw new Error(`memory: no implementation ${impl}`);
  const goal = target(ctx.mode);

  gc();
  gc();
  const before = process.memoryUsage();
  const parked = park(goal, () => parker.start(), (item) => parker.release(item));
  holding = parked.items; // alive until the process exits, not just until its last use here
  gc();
  gc();
  const after = process.memoryUsage();
  const n = parked.items.length;

  ctx.record({ row: 'RSS per suspended coroutine', unit: 'bytes', impl, samples: [(after.rss - before.rss) / n], ops: n });
  ctx.record({ row: 'V8 heap per suspended coroutine', unit: 'bytes', impl, samples: [(after.heapUsed - before.heapUsed) / n], ops: n });
  ctx.record({
    row: `suspended at once (target ${formatCount(goal)})`,
    unit: 'count',
    impl,
    samples: [parked.reached],
    chart: false,
    note: parked.stoppedBy !== undefined ? 'ERR_FIBER_STACK' : undefined,
  });
  if (impl === 'fiber') {
    const s = stats();
    if (s.suspended < n) throw new Error(`memory: stats() counts ${s.suspended} suspended fibers, expected ${n}`);
    ctx.note(`each suspended fiber reserves ${formatCount(Math.round((s.stackBytesReserved - s.stackBytesPooled) / s.live))} bytes of address space for its stack and guard page; only the pages it touched count in RSS`);
  }
  if (parked.stoppedBy !== undefined) {
    ctx.note(
      `fibers stop short of the target with default settings: creating one more failed with "${parked.stoppedBy}" ` +
        `(vm.max_map_count = ${maxMapCount()}; each suspended fiber holds 2 mappings). The count reached is the "suspended at once" row; ` +
        `then ${formatCount(parked.released)} were finished to leave V8 mappings to grow its heap into, and RSS and heap per fiber are over the rest`,
    );
  }
}
