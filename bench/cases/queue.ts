/**
 * queue: a producer and a consumer through a queue bounded to one item, so
 * every message makes both sides wait in turn (back-pressure on every put).
 *
 * One operation: one message put by the producer and taken by the consumer.
 *
 * - fiber: two greenlets on the hub and stackful's Queue(1);
 * - async: two async functions and a one-slot queue built on promises;
 * - generator: a producer generator and a consumer generator handing the item
 *   over through a one-slot buffer, driven by a plain loop (no event loop).
 * Each returns the sum of the messages consumed.
 */
import { Queue, runInFiber, spawn } from 'stackful';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Bounded queue, producer/consumer',
  operation: 'one message put by the producer and taken by the consumer, queue bounded to 1',
};

function fiber(ops: number): Promise<number> {
  return runInFiber(() => {
    const q = new Queue<number>(1);
    const consumer = spawn(() => {
      let sum = 0;
      for (let i = 0; i < ops; i++) sum += q.get();
      return sum;
    });
    for (let i = 0; i < ops; i++) q.put(i);
    return consumer.get();
  });
}

/** The least a one-slot async queue needs: a promise for "not empty" and one for "not full". */
class AsyncSlot<T> {
  #item: { value: T } | undefined;
  #takers: Array<(v: T) => void> = [];
  #putters: Array<() => void> = [];

  async put(value: T): Promise<void> {
    while (this.#item !== undefined) await new Promise<void>((resolve) => this.#putters.push(resolve));
    const taker = this.#takers.shift();
    if (taker !== undefined) taker(value);
    else this.#item = { value };
  }

  async get(): Promise<T> {
    if (this.#item !== undefined) {
      const { value } = this.#item;
      this.#item = undefined;
      this.#putters.shift()?.();
      return value;
    }
    return new Promise<T>((resolve) => this.#takers.push(resolve));
  }
}

async function async(ops: number): Promise<number> {
  const q = new AsyncSlot<number>();
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < ops; i++) sum += await q.get();
    return sum;
  })();
  for (let i = 0; i < ops; i++) await q.put(i);
  return consumer;
}

function generator(ops: number): number {
  let slot: number | undefined;
  let sum = 0;
  function* producer(): Generator<void> {
    for (let i = 0; i < ops; i++) {
      while (slot !== undefined) yield;
      slot = i;
    }
  }
  function* consumer(): Generator<void> {
    for (let i = 0; i < ops; i++) {
      while (slot === undefined) yield;
      sum += slot;
      slot = undefined;
    }
  }
  const p = producer();
  const c = consumer();
  let pDone = false;
  let cDone = false;
  while (!cDone) {
    if (!pDone) pDone = p.next().done === true;
    cDone = c.next().done === true;
  }
  return sum;
}

export const message: Workload = { fiber, async, generator };

export async function measure(ctx: Context): Promise<void> {
  await ctx.time('message through Queue(1)', message, { ops: ctx.pick(20_000, 100_000) });
}
