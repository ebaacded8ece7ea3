/**
 * ping-pong: two coroutines pass a counter back and forth, and nothing else.
 *
 * One operation: one switch, control passing from one coroutine to the other.
 * A round trip (there and back: run + yield, next + yield, switch + switch) is
 * two switches; the round trip is what is timed, the switch is half of it.
 *
 * Also here, beside it in the same process: create + finish, a coroutine
 * created, started and run to its end (it returns its argument plus one).
 *
 * And the same round trip while many other coroutines of the same kind sit
 * suspended (10,000; 2,000 with --quick), each kind in its own process:
 * whatever the runtime does per suspended coroutine (on every GC, say) shows
 * up here.
 *
 * And the round trip inside AsyncLocalStorage#run(), each kind in a process of
 * its own where a store is set: what programs that use AsyncLocalStorage pay.
 *
 * And "fiber, Locker switch": the fiber workloads in a process where the
 * addon switches through v8::Unlocker / v8::Locker (STACKFUL_SWITCH=locker),
 * its fallback, against the direct switch of the other fiber columns.
 *
 * Every implementation returns the sum of the counters it got back. Python's
 * greenlet runs the same two workloads in its own process when installed
 * (bench/greenlet/ping_pong.py).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Fiber, stats } from 'stackful';
import { runGreenlet } from '../lib/greenlet.js';
import { formatCount, type Context, type Workload } from '../lib/harness.js';
import type { CaseAbout, JobParams, Mode } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Ping-pong',
  operation: 'one switch from one coroutine to the other; a round trip (there and back) is two switches',
};

/** root ↔ fiber, node-fibers style: run(i) resumes the fiber, Fiber.yield(i + 1) comes back. */
function fiber(ops: number): number {
  const pong = new Fiber((first: number | null) => {
    let v = first;
    while (v !== null) v = Fiber.yield(v + 1) as number | null;
    return 0;
  });
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += pong.run(i) as number;
  return sum + (pong.run(null) as number);
}

/** root ↔ fiber, greenlet style: both directions are switch(). */
function fiberSwitch(ops: number): number {
  const main = Fiber.current;
  const pong = new Fiber((first: number | null) => {
    let v = first;
    while (v !== null) v = main.switch(v + 1) as number | null;
    return 0;
  });
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += pong.switch(i) as number;
  return sum + (pong.switch(null) as number);
}

function* pongGenerator(): Generator<number, number, number | null> {
  let v = yield 0;
  while (v !== null) v = yield v + 1;
  return 0;
}

/** main ↔ generator: next(i) resumes it, yield i + 1 comes back. */
function generator(ops: number): number {
  const pong = pongGenerator();
  pong.next(null); // a generator takes values only once it is at its first yield
  let sum = 0;
  for (let i = 0; i < ops; i++) sum += pong.next(i).value;
  return sum + pong.next(null).value;
}

/** Two async functions; each direction is a fresh promise resolved by one and awaited by the other. */
async function async(ops: number): Promise<number> {
  let toPong!: (v: number | null) => void;
  let toPing!: (v: number) => void;
  const pong = (async () => {
    for (;;) {
      const v = await new Promise<number | null>((resolve) => (toPong = resolve));
      if (v === null) return 0;
      toPing(v + 1);
    }
  })();
  let sum = 0;
  for (let i = 0; i < ops; i++) {
    sum += await new Promise<number>((resolve) => {
      toPing = resolve;
      toPong(i);
    });
  }
  toPong(null);
  return sum + (await pong);
}

export const roundTrip: Workload = { fiber, 'fiber.switch': fiberSwitch, generator, async };

const plusOne = (x: number): number => x + 1;
function* plusOneGenerator(x: number): Generator<never, number> {
  return x + 1;
}
async function plusOneAsync(x: number): Promise<number> {
  return x + 1;
}

/** Create + finish: a coroutine that returns its argument plus one, created and run to its end. */
export const createFinish: Workload = {
  fiber(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += new Fiber(plusOne).run(i) as number;
    return sum;
  },
  'fiber.switch'(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += new Fiber(plusOne).switch(i) as number;
    return sum;
  },
  generator(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += plusOneGenerator(i).next().value;
    return sum;
  },
  async async(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += await plusOneAsync(i);
    return sum;
  },
};

const forever = new Promise<void>(() => {});

/** Starts one coroutine of each kind and leaves it suspended, as a bystander. */
export const bystander: Record<string, () => unknown> = {
  fiber() {
    const f = new Fiber(() => Fiber.yield());
    f.run();
    return f;
  },
  generator() {
    const g = (function* () {
      yield;
    })();
    g.next();
    return g;
  },
  async: () => (async () => void (await forever))(),
};
let holding: unknown;

export const ROUND_TRIP = 'round trip (2 switches)';
export const SWITCH = 'one switch (round trip ÷ 2)';
export const CREATE_FINISH = 'create + finish';

export const ROUND_TRIP_ALS = 'round trip inside AsyncLocalStorage#run()';

export function jobs(mode: Mode): JobParams[] {
  const others = counts(mode).others;
  return [{}, { impl: 'fiber.locker', switch: 'locker' }, { impl: 'greenlet' }, { als: true }, ...Object.keys(bystander).map((impl) => ({ impl, others }))];
}

function counts(mode: Mode): { roundTrips: number; creates: number; others: number } {
  return mode === 'quick' ? { roundTrips: 10_000, creates: 5_000, others: 2_000 } : { roundTrips: 50_000, creates: 20_000, others: 10_000 };
}

export async function measure(ctx: Context, params: JobParams): Promise<void> {
  const { roundTrips, creates } = counts(ctx.mode);
  if (params.impl === 'greenlet') {
    runGreenlet(ctx, { roundTrip: ROUND_TRIP, switch: SWITCH, createFinish: CREATE_FINISH }, roundTrips, creates);
    return;
  }
  const path = stats().switching.path;
  if (params.impl === 'fiber.locker') {
    if (path !== 'locker') throw new Error(`STACKFUL_SWITCH=locker did not take effect (${path})`);
    await ctx.time(ROUND_TRIP, { 'fiber.locker': roundTrip.fiber! }, { ops: roundTrips });
    await ctx.time(CREATE_FINISH, { 'fiber.locker': createFinish.fiber! }, { ops: creates });
    return;
  }
  if (path !== 'direct') ctx.note(`fibers switched through the Locker fallback here: ${stats().switching.reason ?? ''}`);
  if (params.als === true) {
    // What a program that uses AsyncLocalStorage anywhere pays: every switch
    // carries each coroutine's stores (Node 20/22: on the async resource).
    const als = new AsyncLocalStorage<number>();
    const { fiber, generator, async } = roundTrip;
    await als.run(1, () => ctx.time(ROUND_TRIP_ALS, { fiber: fiber!, generator: generator!, async: async! }, { ops: roundTrips }));
    return;
  }
  if (params.others !== undefined) {
    const impl = String(params.impl);
    const park = bystander[impl]!;
    holding = Array.from({ length: Number(params.others) }, park);
    await ctx.time(`round trip, ${formatCount(Number(params.others))} others suspended`, { [impl]: roundTrip[impl]! }, { ops: roundTrips });
    return;
  }
  const samples = await ctx.time(ROUND_TRIP, roundTrip, { ops: roundTrips });
  for (const [impl, perRoundTrip] of Object.entries(samples)) {
    ctx.record({ row: SWITCH, unit: 'ns', impl, samples: perRoundTrip.map((ns) => ns / 2), chart: false });
  }
  await ctx.time(CREATE_FINISH, createFinish, { ops: creates });
}
