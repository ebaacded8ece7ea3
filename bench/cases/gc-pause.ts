/**
 * gc-pause: what suspended coroutines add to every garbage collection.
 *
 * 0, 1,000, 10,000 and 100,000 coroutines (0, 1,000 and 5,000 with --quick)
 * are suspended 20 frames deep: 20 nested plain calls on a fiber, 20
 * generators delegating with yield*, 20 async functions each awaiting the
 * next. Then, after two full GCs (so everything they hold is old) and a wait
 * for V8's concurrent sweeping to end, the pause of a minor GC
 * (`gc({ type: 'minor' })`, a scavenge) and of a full GC (`gc()`) is timed
 * with performance.now(), several times each.
 *
 * Two fiber columns: "fiber", stackful as it ships, where a scavenge leaves
 * out the fibers that three scavenges have already seen parked (nothing young
 * can be left in their frames), and "fiber, visit-all", the same with
 * STACKFUL_YOUNG_GC=visit-all, where every scavenge walks every parked fiber
 * (what stackful did before). The first three scavenges after parking are a
 * warm-up for every column and are not kept.
 *
 * One operation: one GC; the number is its pause in milliseconds (the median).
 * Each kind and each count runs in its own fresh process. Fibers cannot reach
 * 100,000 with default settings (see memory.ts): parking stops while
 * MAPPING_HEADROOM mappings are left, and that row holds the count reached
 * and says so.
 */
import { Fiber, stats } from 'stackful';
import { formatCount, gc, MAPPING_HEADROOM, park, timeMs, type Context } from '../lib/harness.js';
import type { CaseAbout, JobParams, Mode } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'GC pause with coroutines suspended 20 frames deep',
  operation: 'one GC (minor: a scavenge; full: mark-compact), its pause in ms',
};

const DEPTH = 20;

// Each level keeps its argument live across the suspension, and adds one on the way out.
function fiberFrames(depth: number): number {
  if (depth === 1) return (Fiber.yield() as number) + 1;
  return fiberFrames(depth - 1) + 1;
}

function* generatorFrames(depth: number): Generator<undefined, number, number> {
  if (depth === 1) return (yield) + 1;
  return (yield* generatorFrames(depth - 1)) + 1;
}

const forever = new Promise<number>(() => {});
async function asyncFrames(depth: number): Promise<number> {
  if (depth === 1) return (await forever) + 1;
  return (await asyncFrames(depth - 1)) + 1;
}

interface Parker<T> {
  start(): T;
  release(item: T): void;
}

export const suspendedDeep: Record<string, Parker<unknown>> = {
  fiber: {
    start() {
      const f = new Fiber(() => fiberFrames(DEPTH));
      f.run();
      return f;
    },
    release: (f) => (f as Fiber).kill(),
  },
  'fiber.visit-all': {
    // Runs in a process started with STACKFUL_YOUNG_GC=visit-all (see jobs()).
    start() {
      const f = new Fiber(() => fiberFrames(DEPTH));
      f.run();
      return f;
    },
    release: (f) => (f as Fiber).kill(),
  },
  generator: {
    start() {
      const g = generatorFrames(DEPTH);
      g.next();
      return g;
    },
    release: (g) => void (g as Generator).return(0),
  },
  async: {
    start: () => asyncFrames(DEPTH),
    release() {},
  },
};

const IMPLS = Object.keys(suspendedDeep);
let holding: unknown;

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function counts(mode: Mode): number[] {
  return mode === 'quick' ? [0, 1_000, 5_000] : [0, 1_000, 10_000, 100_000];
}

/**
 * One fresh process per implementation and count. The addon decides how
 * scavenges treat parked fibers at the first scavenge after it loads, which
 * may come before the first fiber parks (loading the case allocates): so
 * "fiber.visit-all" asks bench/child.ts to set STACKFUL_YOUNG_GC before
 * stackful loads. Set from start(), the setting was read too late whenever a
 * scavenge came first, and the run failed with "ran with young-GC path
 * skip-clean, expected visit-all".
 */
export function jobs(mode: Mode): JobParams[] {
  return IMPLS.flatMap((impl) =>
    counts(mode).map((count): JobParams => (impl === 'fiber.visit-all' ? { impl, count, youngGc: 'visit-all' } : { impl, count })),
  );
}

export async function measure(ctx: Context, params: JobParams): Promise<void> {
  const impl = String(params.impl);
  const count = Number(params.count);
  const parker = suspendedDeep[impl];
  if (parker === undefined) throw new Error(`gc-pause: no implementation ${impl}`);
  const position = counts(ctx.mode).indexOf(count);

  const options = impl.startsWith('fiber') ? { keepMappings: MAPPING_HEADROOM } : {};
  const parked = park(count, () => parker.start(), (item) => parker.release(item), options);
  holding = parked.items; // alive until the process exits
  gc();
  gc();
  // A full GC leaves old space to V8's sweeper threads, and the next GC
  // finishes what they have not: without a pause here the first scavenges
  // measured that sweeping, up to 100 times their own length.
  await settle(ctx.pick(50, 500));
  // The first three scavenges and the first full GC are a warm-up and are not kept.
  const WARM_UP = 3;
  const minor = Array.from({ length: WARM_UP + ctx.pick(5, 11) }, () => timeMs(() => gc({ type: 'minor' }))).slice(WARM_UP);
  const full: number[] = [];
  for (let i = 0; i <= ctx.pick(3, 5); i++) {
    await settle(ctx.pick(10, 200));
    full.push(timeMs(() => gc()));
  }
  full.shift();

  const n = parked.items.length;
  if (impl.startsWith('fiber') && count > 0) {
    const young = stats().youngGc;
    const expected = impl === 'fiber' ? 'skip-clean' : 'visit-all';
    if (young.path !== expected) throw new Error(`gc-pause: ${impl} ran with young-GC path ${young.path} (${young.reason ?? ''}), expected ${expected}`);
  }
  const note = n < count ? `${formatCount(n)} suspended` : undefined;
  const label = `${formatCount(count)} suspended`;
  ctx.record({ row: `minor GC, ${label}`, unit: 'ms', impl, samples: minor, ops: n, note, order: position });
  ctx.record({ row: `full GC, ${label}`, unit: 'ms', impl, samples: full, ops: n, note, order: 100 + position });
  if (parked.stoppedBy !== undefined) {
    ctx.note(
      `fibers cannot reach ${formatCount(count)} with default settings: each suspended fiber holds 2 memory mappings, and parking stopped at ` +
        `${formatCount(parked.reached)} (${parked.detail}; V8 aborts the process when it cannot map memory, see bench/README.md, "Limits"); ` +
        `the "${formatCount(count)}" fiber rows were measured with ${formatCount(n)}`,
    );
  }
}
