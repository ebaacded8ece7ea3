/**
 * The hub: gevent's scheduling model on Node's event loop.
 *
 * The root fiber (the thread's own stack) runs Node's event loop and is the
 * hub. A fiber that waits (a timer, a promise, a lock, a queue) parks: it
 * registers how it is to be woken and switches to the hub. The callback that
 * completes the wait resumes it, from the hub. Fibers woken "now" (sleep(0),
 * a lock released, an event set) go through the ready queue, drained in FIFO
 * order, so every ready fiber runs once before any runs twice. A drain runs on
 * the next loop turn, or, when a fiber woke another, right after the current
 * callback for up to SLICE_MS between loop turns.
 */
import { Fiber, liveFibers } from './fiber.js';
import { FiberError } from './errors.js';
import './guard.js'; // no switching in a timed vm run or during process.exit()

// --- the ready queue -------------------------------------------------------

let ready: Array<() => void> = [];
let drainScheduled = false;

/**
 * How long fibers may keep waking one another (a queue handoff, an event,
 * sleep(0)) through drains chained as microtasks, with no event-loop turn in
 * between: a drain costs a fraction of a microsecond that way, against about
 * two for a loop turn. Past this, the next drain waits for the loop again, so
 * timers and I/O get their turn at least this often (gevent's switch
 * interval plays the same part).
 */
let SLICE_MS = 1;
let loopTurnAt = performance.now(); // when a drain last ran from the event loop

/**
 * Internal, for tests: sets SLICE_MS and returns the previous value (0: every
 * drain waits for an event-loop turn, so the hub can act between drains).
 */
export function setDrainSlice(ms: number): number {
  const previous = SLICE_MS;
  SLICE_MS = ms;
  return previous;
}

/** Runs `callback` on the hub as soon as possible, after the callbacks already queued. */
export function callSoon(callback: () => void): void {
  ready.push(callback);
  if (drainScheduled) return;
  drainScheduled = true;
  // Woken by a fiber: the hub drains right after the current callback, while
  // the slice lasts. Woken from the hub itself (a timer, I/O, spawn() on the
  // root): on the next loop turn.
  if (Fiber.current !== Fiber.root && performance.now() - loopTurnAt < SLICE_MS) queueMicrotask(drainFromMicrotask);
  else setImmediate(drainFromLoop);
}

function drainFromLoop(): void {
  loopTurnAt = performance.now();
  drain();
}

function drainFromMicrotask(): void {
  // Microtasks normally run on the hub; should a checkpoint ever run on a
  // fiber's stack, the hub drains on the next loop turn instead.
  if (Fiber.current !== Fiber.root) setImmediate(drainFromLoop);
  else drain();
}

function drain(): void {
  drainScheduled = false;
  // Only what was ready when this drain began: a fiber that makes itself
  // ready again (sleep(0)) runs in the next drain, after every other one.
  const batch = ready;
  ready = [];
  for (let i = 0; i < batch.length; i++) {
    try {
      batch[i]!();
    } catch (err) {
      // A hub callback must not take the others down; surface it like Node would.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

// --- parking ---------------------------------------------------------------

/** Blocking on the root fiber would block the event loop itself: refuse clearly. */
export function currentFiberFor(operation: string, subject?: string): Fiber {
  const current = Fiber.current;
  if (current === Fiber.root) {
    // Built only here: the calls on every wait pass their parts.
    const what = subject === undefined ? operation : `${operation} ${subject}`;
    throw new FiberError(
      'ERR_BLOCKING_ON_ROOT',
      `cannot ${what} on the root fiber: it runs the event loop and must never block; run this code in a fiber (spawn() or runInFiber())`,
    );
  }
  return current;
}

/** What a fiber waits on, while it is parked (for the "blocked forever" report). */
interface ParkInfo {
  what: string;
  parked: boolean;
}

// One record per fiber that ever parked, reused: no map churn on the switch path.
const parkInfo = new WeakMap<Fiber, ParkInfo>();

/**
 * A one-shot rendezvous between one parked fiber and whoever wakes it
 * (gevent's Waiter). `wait()` parks the calling fiber until `wake(value)` or
 * `fail(err)`; waking before the wait makes the wait return at once.
 *
 * Contract: the resume always happens on the hub. Woken from the hub (an
 * event-loop callback), the fiber runs at once, inside the wake() call; woken
 * from a fiber, it runs on the next drain of the ready queue. An exception
 * thrown into the waiting fiber (kill(), a Timeout) unwinds out of wait() even
 * if a wake() came first but had not been delivered yet; the caller decides
 * what to do with a value that arrived too late (see `settled`). A resume that
 * was queued for a wait that has since ended is dropped.
 */
export class Waiter<T = unknown> {
  #fiber: Fiber | undefined;
  #settled = false;
  #failed = false;
  #value: T | undefined;
  #error: unknown;

  get waiting(): boolean {
    return this.#fiber !== undefined;
  }

  get settled(): boolean {
    return this.#settled;
  }

  wait(what = 'Waiter.wait'): T {
    if (!this.#settled) {
      const fiber = Fiber.current;
      if (fiber === Fiber.root) currentFiberFor('wait', `(${what})`);
      let info = parkInfo.get(fiber);
      if (info === undefined) {
        info = { what, parked: false };
        parkInfo.set(fiber, info);
      }
      info.what = what;
      info.parked = true;
      this.#fiber = fiber;
      try {
        // Whatever the hub passes back is ignored: the outcome is in this waiter.
        while (!this.#settled) Fiber.root.switch();
      } finally {
        info.parked = false;
        this.#fiber = undefined;
      }
    }
    if (this.#failed) throw this.#error;
    return this.#value as T;
  }

  wake(value: T): void {
    this.#settle(false, value, undefined);
  }

  fail(error: unknown): void {
    this.#settle(true, undefined, error);
  }

  #settle(failed: boolean, value: T | undefined, error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failed = failed;
    this.#value = value;
    this.#error = error;
    const fiber = this.#fiber;
    if (fiber === undefined) return;
    if (Fiber.current === Fiber.root) {
      if (fiber.state === 'suspended') fiber.switch();
      return;
    }
    callSoon(() => {
      // Only if the fiber still waits here: a timeout or kill may have ended the wait.
      if (this.#fiber === fiber && fiber.state === 'suspended') fiber.switch();
    });
  }
}

/** Throws `error` into a parked fiber, from the hub. */
export function throwInto(fiber: Fiber, error: unknown): void {
  const deliver = (): void => {
    if (!fiber.dead && fiber !== Fiber.current) fiber.throw(error);
  };
  if (Fiber.current === Fiber.root) deliver();
  else callSoon(deliver);
}

/** Where each spawned fiber was spawned (filled in by greenlet.ts, formatted when read). */
export const spawnSites = new WeakMap<Fiber, { readonly spawnedAt: string | undefined }>();

/**
 * When the event loop runs out of work while fibers are still parked, nothing
 * can ever wake them (gevent: "this operation would block forever"). Say so,
 * fiber by fiber, instead of exiting silently, and exit with code 1 unless an
 * exit code was already set.
 */
process.on('beforeExit', () => {
  const stuck: Array<[Fiber, string]> = [];
  for (const fiber of liveFibers()) {
    const info = parkInfo.get(fiber);
    if (info?.parked) stuck.push([fiber, info.what]);
  }
  if (stuck.length === 0) return;
  const lines = [`stackful: the event loop has no more work, but ${stuck.length} fiber(s) still wait and can never be woken:`];
  for (const [fiber, what] of stuck) {
    parkInfo.get(fiber)!.parked = false; // reported once
    lines.push(`  ${fiber} waits in ${what}`);
    const site = spawnSites.get(fiber)?.spawnedAt;
    if (site) lines.push(`    spawned ${site.trim().replace(/\n\s*/g, '\n      ')}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  if (!process.exitCode) process.exitCode = 1;
});

// --- sleep and wait ---------------------------------------------------------

/**
 * sleep(0): a Waiter's contract at a fraction of its cost. The fiber parks
 * until the hub's ready queue reaches it; a resume that arrives after the
 * fiber left by an exception (kill(), a Timeout) is dropped, and a switch
 * into it from anywhere else does not end the wait. It can never wait
 * forever, so it is not recorded for the "blocked forever" report.
 */
function yieldToHub(): void {
  const fiber = Fiber.current;
  if (fiber === Fiber.root) currentFiberFor('sleep');
  const turn = { woken: false, left: false };
  callSoon(() => {
    if (turn.left || fiber.state !== 'suspended') return;
    turn.woken = true;
    fiber.switch();
  });
  try {
    do Fiber.root.switch();
    while (!turn.woken);
  } finally {
    turn.left = true;
  }
}

/**
 * Parks the current fiber for `ms` milliseconds. `sleep(0)` lets every other
 * ready fiber run once before this one continues.
 */
export function sleep(ms = 0): void {
  if (typeof ms !== 'number' || !(ms >= 0)) throw new RangeError(`expected \`ms\` to be a number >= 0, got ${String(ms)}`);
  if (ms === 0) {
    yieldToHub();
    return;
  }
  const waiter = new Waiter<void>();
  const timer = setTimeout(() => waiter.wake(), ms);
  try {
    waiter.wait(`sleep(${ms})`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Parks the current fiber until `promise` settles: returns its value or throws
 * its reason (await, without async).
 */
export function wait<T>(promise: PromiseLike<T> | T): T {
  if (promise === null || (typeof promise !== 'object' && typeof promise !== 'function') || typeof (promise as PromiseLike<T>).then !== 'function') {
    return promise as T;
  }
  currentFiberFor('wait for a promise');
  const waiter = new Waiter<T>();
  (promise as PromiseLike<T>).then(
    (value) => waiter.wake(value),
    (reason) => waiter.fail(reason),
  );
  return waiter.wait('wait(promise)');
}
