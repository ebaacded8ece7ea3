/**
 * producer-consumer, the seed example: a producer hands messages one at a time
 * to a consumer, which takes each one, counts its bytes and answers "200 OK".
 *
 * One operation: one message handed to the consumer and its answer handed
 * back to the producer.
 *
 * Every implementation returns (answers that were "200 OK") + (bytes the
 * consumer counted), so the harness can check they all did the same work.
 */
import { Fiber } from 'stackful';
import type { Context, Workload } from '../lib/harness.js';
import type { CaseAbout } from '../lib/types.js';

export const about: CaseAbout = {
  title: 'Producer-consumer',
  operation: 'one message handed to the consumer and its "200 OK" answer handed back to the producer',
};

const MESSAGES = Array.from({ length: 64 }, (_, i) => `GET /items/${i} HTTP/1.1`);
const OK = '200 OK';

/** The consumer runs on a fiber; the producer resumes it with run(), it answers with Fiber.yield(). */
function fiber(ops: number): number {
  const consumer = new Fiber((first: string | null) => {
    let bytes = 0;
    for (let msg = first; msg !== null; msg = Fiber.yield(OK) as string | null) bytes += msg.length;
    return bytes;
  });
  let ok = 0;
  for (let i = 0; i < ops; i++) if (consumer.run(MESSAGES[i & 63]) === OK) ok++;
  return ok + (consumer.run(null) as number);
}

/** The same with greenlet-style symmetric switch() in both directions. */
function fiberSwitch(ops: number): number {
  const producer = Fiber.current;
  const consumer = new Fiber((first: string | null) => {
    let bytes = 0;
    for (let msg = first; msg !== null; msg = producer.switch(OK) as string | null) bytes += msg.length;
    return bytes; // goes to the parent: the producer that created it
  });
  let ok = 0;
  for (let i = 0; i < ops; i++) if (consumer.switch(MESSAGES[i & 63]) === OK) ok++;
  return ok + (consumer.switch(null) as number);
}

function* consumerGenerator(): Generator<string, number, string | null> {
  let bytes = 0;
  // A generator cannot receive a value before its first yield: the producer primes it.
  for (let msg = yield ''; msg !== null; msg = yield OK) bytes += msg.length;
  return bytes;
}

/** The consumer is a generator; the producer resumes it with next(message). */
function generator(ops: number): number {
  const consumer = consumerGenerator();
  consumer.next(null);
  let ok = 0;
  for (let i = 0; i < ops; i++) if (consumer.next(MESSAGES[i & 63]!).value === OK) ok++;
  return ok + (consumer.next(null).value as number);
}

/**
 * Two async functions hand each message and each answer over through a fresh
 * promise: the least an async/await pair needs to pass a value each way.
 */
async function async(ops: number): Promise<number> {
  let deliver!: (msg: string | null) => void;
  let answer!: (reply: string) => void;
  const consumer = (async () => {
    let bytes = 0;
    for (;;) {
      const msg = await new Promise<string | null>((resolve) => (deliver = resolve));
      if (msg === null) return bytes;
      bytes += msg.length;
      answer(OK);
    }
  })();
  let ok = 0;
  for (let i = 0; i < ops; i++) {
    const reply = await new Promise<string>((resolve) => {
      answer = resolve;
      deliver(MESSAGES[i & 63]!);
    });
    if (reply === OK) ok++;
  }
  deliver(null);
  return ok + (await consumer);
}

export const message: Workload = { fiber, 'fiber.switch': fiberSwitch, generator, async };

export async function measure(ctx: Context): Promise<void> {
  await ctx.time('message + answer', message, { ops: ctx.pick(20_000, 100_000) });
}
