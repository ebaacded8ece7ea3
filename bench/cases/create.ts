/**
 * create: what a coroutine costs from birth to death.
 *
 * One operation: one coroutine created, started and run to its end. Three ways:
 *  - one at a time: it returns at once (a fiber reuses a pooled stack);
 *  - one at a time, suspending once on the way (started, parked, resumed, finished);
 *  - 1,000 alive at once: all created and parked, then all resumed to their end
 *    (more than the fiber stack pool keeps, so stacks are mapped and unmapped);
 *  - spawn() + join() of a greenlet with the default settings, from a fiber,
 *    one at a time (what a server pays per request for its fiber), against an
 *    async function called and awaited.
 *
 * Every coroutine returns its argument plus one; each implementation returns
 * the sum, so the harness can check they all did the same work.
 */
import { Fiber, runInFiber, spawn } from 'stackful';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Create',
  operation: 'one coroutine created, started and run to its end',
};

const plusOne = (x: number): number => x + 1;
function* plusOneGenerator(x: number): Generator<never, number> {
  return x + 1;
}
async function plusOneAsync(x: number): Promise<number> {
  return x + 1;
}

export const oneAtATime: Workload = {
  fiber(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += new Fiber(plusOne).run(i) as number;
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

// Suspends once, is resumed with 1, returns its argument plus that.
const addResumed = (x: number): number => x + (Fiber.yield() as number);
function* addResumedGenerator(x: number): Generator<undefined, number, number> {
  return x + (yield);
}
async function addResumedAsync(x: number, wake: Promise<number>): Promise<number> {
  return x + (await wake);
}

export const suspendOnce: Workload = {
  fiber(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) {
      const f = new Fiber(addResumed);
      f.run(i);
      sum += f.run(1) as number;
    }
    return sum;
  },
  generator(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) {
      const g = addResumedGenerator(i);
      g.next();
      sum += g.next(1).value as number;
    }
    return sum;
  },
  async async(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) {
      let wake!: (v: number) => void;
      const done = addResumedAsync(i, new Promise<number>((resolve) => (wake = resolve)));
      wake(1);
      sum += await done;
    }
    return sum;
  },
};

export const spawnJoin: Workload = {
  fiber(ops) {
    return runInFiber(() => {
      let sum = 0;
      for (let i = 0; i < ops; i++) {
        const g = spawn(plusOne, i);
        g.join();
        sum += g.value!;
      }
      return sum;
    });
  },
  async async(ops) {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += await plusOneAsync(i);
    return sum;
  },
};

const BATCH = 1000;

export const manyAlive: Workload = {
  fiber(ops) {
    let sum = 0;
    for (let base = 0; base < ops; base += BATCH) {
      const batch: Fiber[] = [];
      for (let i = 0; i < BATCH; i++) {
        const f = new Fiber(addResumed);
        f.run(base + i);
        batch.push(f);
      }
      for (const f of batch) sum += f.run(1) as number;
    }
    return sum;
  },
  generator(ops) {
    let sum = 0;
    for (let base = 0; base < ops; base += BATCH) {
      const batch: Generator<undefined, number, number>[] = [];
      for (let i = 0; i < BATCH; i++) {
        const g = addResumedGenerator(base + i);
        g.next();
        batch.push(g);
      }
      for (const g of batch) sum += g.next(1).value as number;
    }
    return sum;
  },
  async async(ops) {
    let sum = 0;
    for (let base = 0; base < ops; base += BATCH) {
      const wakes: ((v: number) => void)[] = [];
      const batch: Promise<number>[] = [];
      for (let i = 0; i < BATCH; i++) {
        batch.push(addResumedAsync(base + i, new Promise<number>((resolve) => wakes.push(resolve))));
      }
      for (const wake of wakes) wake(1);
      for (const done of batch) sum += await done;
    }
    return sum;
  },
};

export async function measure(ctx: Context): Promise<void> {
  const ops = ctx.pick(5_000, 20_000);
  await ctx.time('create + finish, one at a time', oneAtATime, { ops, unit: 'µs' });
  await ctx.time('create + suspend once + finish', suspendOnce, { ops, unit: 'µs' });
  // A multiple of BATCH; a fiber costs ~20 µs here, so fewer per run keeps the case short.
  await ctx.time(`${BATCH.toLocaleString('en-US')} alive at once, then all finished`, manyAlive, { ops: ctx.pick(3, 10) * BATCH, unit: 'µs' });
  await ctx.time('spawn() + join() of a greenlet (async: call + await)', spawnJoin, { ops, unit: 'µs' });
}
