/**
 * deep-stack: suspending far down a call stack. The coroutine is 50 calls
 * deep when it suspends: 50 plain nested calls on a fiber, 50 generators
 * delegating with yield* (a generator can only suspend if every level above
 * it is a generator), 50 async functions each awaiting the next.
 *
 * One operation: one suspend/resume round trip between the driver and the
 * code at depth 50. Two shapes:
 *  - resume at depth 50: the 50 levels stay where they are, only the bottom
 *    suspends and resumes (each generator level still passes every value on);
 *  - call 50 deep, suspend, resume, return: each operation also makes the
 *    50 calls on the way down and returns through them on the way up.
 *
 * Every implementation returns the same checksum (the values that came back,
 * plus what the top level returned), so the harness can check the work.
 */
import { Fiber } from 'stackful';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Deep stack (50 levels)',
  operation: 'one suspend/resume round trip between the driver and code 50 calls deep',
};

const DEPTH = 50;

// --- resume at depth 50 ----------------------------------------------------
// The bottom answers each value v with v + 1 until it gets null; then every
// level returns its child's result plus one, so the top returns DEPTH.

function fiberNest(depth: number): number {
  if (depth === 0) {
    let v = Fiber.yield(0) as number | null;
    while (v !== null) v = Fiber.yield(v + 1) as number | null;
    return 0;
  }
  return fiberNest(depth - 1) + 1;
}

function* generatorNest(depth: number): Generator<number, number, number | null> {
  if (depth === 0) {
    let v = yield 0;
    while (v !== null) v = yield v + 1;
    return 0;
  }
  return (yield* generatorNest(depth - 1)) + 1;
}

export const resumeAtDepth: Workload = {
  fiber(ops) {
    const f = new Fiber(() => fiberNest(DEPTH));
    f.run(); // down to depth 50, parked there
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += f.run(i) as number;
    return sum + (f.run(null) as number);
  },
  generator(ops) {
    const g = generatorNest(DEPTH);
    g.next(null);
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += g.next(i).value;
    return sum + g.next(null).value;
  },
  async async(ops) {
    // The bottom and the driver hand values over through fresh promises; the
    // 50 levels above the bottom await their child the whole time.
    let toBottom!: (v: number | null) => void;
    let toDriver!: (v: number) => void;
    async function nest(depth: number): Promise<number> {
      if (depth === 0) {
        for (;;) {
          const v = await new Promise<number | null>((resolve) => (toBottom = resolve));
          if (v === null) return 0;
          toDriver(v + 1);
        }
      }
      return (await nest(depth - 1)) + 1;
    }
    const top = nest(DEPTH);
    let sum = 0;
    for (let i = 0; i < ops; i++) {
      sum += await new Promise<number>((resolve) => {
        toDriver = resolve;
        toBottom(i);
      });
    }
    toBottom(null);
    return sum + (await top);
  },
};

// --- call 50 deep, suspend, resume, return ----------------------------------
// A loop at the top calls 50 levels down with `carry`; the bottom suspends
// handing `carry` to the driver, is resumed with v and returns v + 1; each
// level adds one on the way up; the loop goes down again with the result.
// null unwinds everything.

function fiberDescend(depth: number, carry: number): number | null {
  if (depth === 0) {
    const v = Fiber.yield(carry) as number | null;
    return v === null ? null : v + 1;
  }
  const r = fiberDescend(depth - 1, carry);
  return r === null ? null : r + 1;
}

function fiberLoop(): number {
  for (let carry = 0; ; ) {
    const r = fiberDescend(DEPTH, carry);
    if (r === null) return 0;
    carry = r;
  }
}

function* generatorDescend(depth: number, carry: number): Generator<number, number | null, number | null> {
  if (depth === 0) {
    const v = yield carry;
    return v === null ? null : v + 1;
  }
  const r = yield* generatorDescend(depth - 1, carry);
  return r === null ? null : r + 1;
}

function* generatorLoop(): Generator<number, number, number | null> {
  for (let carry = 0; ; ) {
    const r = yield* generatorDescend(DEPTH, carry);
    if (r === null) return 0;
    carry = r;
  }
}

export const callSuspendReturn: Workload = {
  fiber(ops) {
    const f = new Fiber(fiberLoop);
    f.run();
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += f.run(i) as number;
    return sum + (f.run(null) as number);
  },
  generator(ops) {
    const g = generatorLoop();
    g.next(null);
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += g.next(i).value;
    return sum + g.next(null).value;
  },
  async async(ops) {
    let toBottom!: (v: number | null) => void;
    let toDriver!: (v: number) => void;
    async function descend(depth: number, carry: number): Promise<number | null> {
      if (depth === 0) {
        const v = await new Promise<number | null>((resolve) => {
          toBottom = resolve;
          toDriver(carry);
        });
        return v === null ? null : v + 1;
      }
      const r = await descend(depth - 1, carry);
      return r === null ? null : r + 1;
    }
    const first = new Promise<number>((resolve) => (toDriver = resolve));
    const loop = (async () => {
      for (let carry = 0; ; ) {
        const r = await descend(DEPTH, carry);
        if (r === null) return 0;
        carry = r;
      }
    })();
    await first;
    let sum = 0;
    for (let i = 0; i < ops; i++) {
      sum += await new Promise<number>((resolve) => {
        toDriver = resolve;
        toBottom(i);
      });
    }
    toBottom(null);
    return sum + (await loop);
  },
};

export async function measure(ctx: Context): Promise<void> {
  await ctx.time(`resume at depth ${DEPTH} (levels stay suspended)`, resumeAtDepth, { ops: ctx.pick(10_000, 50_000) });
  await ctx.time(`call ${DEPTH} deep, suspend, resume, return`, callSuspendReturn, { ops: ctx.pick(4_000, 20_000) });
}
