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
 * Fibers may also hit a limit: creating one fails with ERR_FIBER_STACK when
 * no stack can be mapped (out of address space, or out of vm.max_map_count
 * mappings: when every stack had its own mapping and guard page, the default
 * of 65,530 stopped them near 32,600). The measuring processes stop parking
 * fibers while MAPPING_HEADROOM mappings are still free (with none left V8
 * aborts the process, see lib/harness.ts); a separate probe process (full
 * runs only) parks fibers until ERR_FIBER_STACK or PROBE_CAP, catches the
 * error and reports the count. V8 may kill the probe first: the job is marked
 * mayAbort, and the runner reports that as a note.
 */
import { Fiber, stats } from 'stackful';
import { formatCount, gc, MAPPING_HEADROOM, maxMapCount, park, type Context } from '../lib/harness.js';
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

/**
 * One fresh process per implementation and per run: a heap that held one kind
 * must not hold the next. Full runs add the fiber limit probe.
 */
export function jobs(mode: Mode): JobParams[] {
  const runs = mode === 'quick' ? 1 : 3;
  const measured = Array.from({ length: runs }, (_, run) => IMPLS.map((impl) => ({ impl, run }))).flat();
  return mode === 'quick' ? measured : [...measured, { impl: 'fiber', probe: true, mayAbort: true }];
}

const LIMIT_ROW = 'most fibers suspended at once, until ERR_FIBER_STACK';
/** Where the probe stops if fibers never run out (about 11 KB of RSS each: 2 GB). */
const PROBE_CAP = 200_000;

export async function measure(ctx: Context, params: JobParams): Promise<void> {
  const impl = String(params.impl);
  const parker = suspended[impl];
  if (parker === undefined) throw new Error(`memory: no implementation ${impl}`);
  if (params.probe) {
    const parked = park(PROBE_CAP, () => parker.start(), (item) => parker.release(item));
    holding = parked.items;
    ctx.record({ row: LIMIT_ROW, unit: 'count', impl, samples: [parked.reached], chart: false });
    ctx.note(
      parked.stoppedBy === undefined
        ? `the limit probe reached its cap of ${formatCount(PROBE_CAP)} fibers without ERR_FIBER_STACK (vm.max_map_count = ${maxMapCount() ?? 'unknown'})`
        : `the limit probe stopped at ${formatCount(parked.reached)} fibers: "${parked.detail}" (vm.max_map_count = ${maxMapCount() ?? 'unknown'})`,
    );
    return;
  }
  const goal = target(ctx.mode);

  gc();
  gc();
  const before = process.memoryUsage();
  const options = impl === 'fiber' ? { keepMappings: MAPPING_HEADROOM } : {};
  const parked = park(goal, () => parker.start(), (item) => parker.release(item), options);
  holding = parked.items; // alive until the process exits, not just until its last use here
  gc();
  gc();
  const after = process.memoryUsage();
  const n = parked.items.length;

  ctx.record({ row: 'RSS per suspended coroutine', unit: 'bytes', impl, samples: [(after.rss - before.rss) / n], ops: n });
  ctx.record({ row: 'V8 heap per suspended coroutine', unit: 'bytes', impl, samples: [(after.heapUsed - before.heapUsed) / n], ops: n });
  ctx.record({
    row: `suspended while measuring (target ${formatCount(goal)})`,
    unit: 'count',
    impl,
    samples: [n],
    chart: false,
    note: parked.stoppedBy === 'mappings' ? 'mapping limit' : parked.stoppedBy,
  });
  if (impl === 'fiber') {
    const s = stats();
    if (s.suspended < n) throw new Error(`memory: stats() counts ${s.suspended} suspended fibers, expected ${n}`);
    ctx.note(`each suspended fiber reserves ${formatCount(Math.round((s.stackBytesReserved - s.stackBytesPooled) / s.live))} bytes of address space for its stack and guard page; only the pages it touched count in RSS`);
  }
  if (parked.stoppedBy === 'mappings') {
    ctx.note(
      `fibers cannot reach ${formatCount(goal)} with default settings: each suspended fiber holds 2 memory mappings, and parking stopped with ` +
        `${formatCount(MAPPING_HEADROOM)} left (V8 aborts the process when it cannot map memory; see bench/README.md, "Limits")`,
    );
  } else if (parked.stoppedBy === 'ERR_FIBER_STACK') {
    ctx.note(`fibers: creating one failed with "${parked.detail}" at ${formatCount(parked.reached)}; ${formatCount(parked.released)} were finished before measuring`);
  }
}
