/**
 * sleep-zero: 1,000 coroutines on a cooperative scheduler, each giving every
 * other one a turn, over and over (gevent's sleep(0)).
 *
 * One operation: one coroutine giving way once (a sleep(0) call), the others'
 * turns counted separately.
 *
 * - fiber: 1,000 greenlets on the hub, each calling sleep(0) in a loop;
 * - async: 1,000 async functions, each awaiting setImmediate in a loop (the
 *   event loop is their scheduler, as the hub is the fibers');
 * - generator: 1,000 generators driven round-robin by a plain loop (no event
 *   loop at all: the cheapest scheduler there is, shown for scale).
 * Each returns the number of turns taken, so the harness can check them.
 */
import { joinAll, runInFiber, sleep, spawn } from 'stackful';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'sleep(0) among 1,000 coroutines',
  operation: 'one coroutine giving every other one a turn once (one sleep(0) call)',
};

const COROUTINES = 1000;

function fiber(ops: number): Promise<number> {
  const rounds = Math.max(1, Math.round(ops / COROUTINES));
  return runInFiber(() => {
    let turns = 0;
    const body = (): void => {
      for (let r = 0; r < rounds; r++) {
        sleep(0);
        turns++;
      }
    };
    joinAll(Array.from({ length: COROUTINES }, () => spawn(body)), { raiseError: true });
    return turns;
  });
}

async function async(ops: number): Promise<number> {
  const rounds = Math.max(1, Math.round(ops / COROUTINES));
  let turns = 0;
  const body = async (): Promise<void> => {
    for (let r = 0; r < rounds; r++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      turns++;
    }
  };
  await Promise.all(Array.from({ length: COROUTINES }, body));
  return turns;
}

function generator(ops: number): number {
  const rounds = Math.max(1, Math.round(ops / COROUTINES));
  let turns = 0;
  function* body(): Generator<void> {
    for (let r = 0; r < rounds; r++) {
      yield;
      turns++;
    }
  }
  let ready = Array.from({ length: COROUTINES }, body);
  while (ready.length > 0) ready = ready.filter((g) => !g.next().done);
  return turns;
}

export const turn: Workload = { fiber, async, generator };

export async function measure(ctx: Context): Promise<void> {
  await ctx.time('sleep(0) with 1,000 coroutines ready', turn, { ops: ctx.pick(20_000, 100_000) });
}
