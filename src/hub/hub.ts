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
 * callback for up to SLICE_MS between loop turns. Meanwhile a fiber that
 * parks or finishes switches straight to the oldest ready fiber itself (one
 * switch instead of two through the hub), within the same slice.
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkSwitchAllowed, Fiber, hubRecord, liveFibers, setHubRecord, switchWith } from '../core/fiber.js';
import { FiberError } from '../core/errors.js';
import '../core/guard.js'; // no switching in a timed vm run or during process.exit()

// --- the ready queue -------------------------------------------------------

/**
 * An entry of the ready queue that resumes (or starts) one fiber, rather than
 * running a callback: a fiber that parks may switch straight to that fiber
 * instead of going through the hub. `[resumeTarget]()` says which fiber (to
 * be switched to if it is suspended, or started if it is new), or undefined
 * when the entry has gone stale (the wait it was for has ended); it has no
 * side effects. The fiber is switched to with the entry itself as the
 * value, so a wait can tell its own resume from a stray switch.
 */
export const resumeTarget: unique symbol = Symbol('stackful.resumeTarget');
export interface Resumable {
  [resumeTarget](): Fiber | undefined;
}
type Entry = (() => void) | Resumable;

// A ring buffer: `size` entries from ring[head], wrapping around; it keeps
// its storage when it empties (a new array per message was most of the
// garbage of a queue handoff) and grows by doubling. `taken` counts the
// entries ever taken, so a drain can stop at what was ready when it began even
// while fibers take entries from under it.
let ring: Array<Entry | undefined> = new Array<Entry | undefined>(64).fill(undefined);
let mask = 63;
let head = 0;
let size = 0;
let taken = 0;
let drainScheduled = false;
const RESOLVED = Promise.resolve();

/**
 * How long fibers may keep waking one another (a queue handoff, an event,
 * sleep(0)) with no event-loop turn in between: a fiber that parks switches
 * straight to the next ready fiber, and drains chain as microtasks. Past
 * this, parking goes to the hub and the next drain waits for the loop, so
 * timers and I/O get their turn at least this often (gevent's switch
 * interval plays the same part).
 */
let SLICE_MS = 1;
let loopTurnAt = performance.now(); // when a drain last ran from the event loop

/**
 * Reading the clock costs 50-100 ns here, as much as the rest of a handoff:
 * after a reading that found the slice open, the next CLOCK_EVERY - 1 checks
 * trust it (gevent reads its clock every 50 callbacks for the same reason).
 * A slice may so run over by that many handoffs.
 */
const CLOCK_EVERY = 32;
let trusted = 0; // checks left that need no clock

/**
 * Internal, for tests (exported by src/internal.ts only): sets SLICE_MS and
 * returns the previous value (0: every drain waits for an event-loop turn and
 * every park goes to the hub, so the hub can act between drains).
 */
export function setDrainSlice(ms: number): number {
  const previous = SLICE_MS;
  SLICE_MS = ms;
  trusted = 0;
  return previous;
}

/** Whether fibers may still hand off to one another without an event-loop turn. */
function inSlice(): boolean {
  if (trusted > 0) {
    trusted--;
    return true;
  }
  if (performance.now() - loopTurnAt >= SLICE_MS) return false;
  trusted = CLOCK_EVERY - 1;
  return true;
}

/** Runs `callback` on the hub as soon as possible, after the callbacks already queued. */
export function callSoon(callback: () => void): void {
  enqueue(callback);
}

/** Queues `entry` and makes sure a drain will run it. */
export function enqueue(entry: Entry): void {
  if (size > mask) grow();
  ring[(head + size++) & mask] = entry;
  if (drainScheduled) return;
  drainScheduled = true;
  // Woken by a fiber: the hub drains right after the current callback (a
  // promise reaction: queueMicrotask would cost an AsyncResource per call),
  // while the slice lasts. Woken from the hub itself (a timer, I/O, spawn() on
  // the root): on the next loop turn.
  if (Fiber.current !== Fiber.root && inSlice()) void RESOLVED.then(drainFromMicrotask);
  else setImmediate(drainFromLoop);
}

function drainFromLoop(): void {
  loopTurnAt = performance.now();
  trusted = 0;
  drain();
}

function drainFromMicrotask(): void {
  // Microtasks normally run on the hub; should a checkpoint ever run on a
  // fiber's stack, the hub drains on the next loop turn instead. So does a
  // drain whose slice ran out while it waited (fibers handing off among
  // themselves until then): the loop gets its turn first.
  if (Fiber.current !== Fiber.root || !inSlice()) setImmediate(drainFromLoop);
  else drain();
}

function grow(): void {
  const bigger = new Array<Entry | undefined>(ring.length * 2).fill(undefined);
  for (let i = 0; i < size; i++) bigger[i] = ring[(head + i) & mask];
  ring = bigger;
  mask = bigger.length - 1;
  head = 0;
}

/** The oldest entry, removed from the queue (the queue must not be empty). */
function shift(): Entry {
  const entry = ring[head]!;
  ring[head] = undefined; // let it be collected
  head = (head + 1) & mask;
  size--;
  taken++;
  return entry;
}

function drain(): void {
  drainScheduled = false;
  // Only what was ready when this drain began: a fiber that makes itself
  // ready again (sleep(0)) runs in the next drain, after every other one.
  const end = taken + size;
  while (taken < end && size > 0) {
    const entry = shift();
    try {
      if (typeof entry === 'function') entry();
      else {
        const fiber = entry[resumeTarget]();
        if (fiber !== undefined && (fiber.state === 'suspended' || fiber.state === 'new')) switchWith(fiber, entry);
      }
    } catch (err) {
      // A hub callback must not take the others down; surface it like Node would.
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

/**
 * For a fiber about to finish with the hub as its parent (a greenlet): the
 * ready entry it can finish into, its parent set to that entry's fiber, so
 * that finishing and resuming the next fiber is one switch instead of two.
 * The fiber's function returns the entry, which the resumed fiber receives
 * as if it had been resumed from the queue. Undefined when the next entry is
 * for the hub (a callback, a fiber to start), the slice is over, or the fiber
 * has another parent (kill() makes the killer the parent: it must get
 * control back).
 */
export function finishInto(fiber: Fiber): Resumable | undefined {
  if (fiber.parent !== Fiber.root) return undefined;
  while (size > 0) {
    const entry = ring[head]!;
    if (typeof entry === 'function') return undefined;
    const target = entry[resumeTarget]();
    if (target !== undefined) {
      if (target.state !== 'suspended') return undefined;
      // A fiber this one created (directly or not) cannot become its parent.
      for (let f: Fiber | null = target; f !== null; f = f.parent) if (f === fiber) return undefined;
    }
    if (!inSlice()) return undefined;
    shift();
    if (target === undefined) continue; // stale
    fiber.parent = target;
    return entry;
  }
  return undefined;
}

/**
 * Switches the running fiber away until something resumes it; returns the
 * value it was resumed with. While the slice lasts and the oldest ready entry
 * resumes a fiber, it switches straight to that fiber (one switch instead of
 * two, and no drain); otherwise to the hub, which runs the ready queue and
 * the event loop. Either way the fiber is suspended at this call, so kill()
 * and Timeout reach it the same way.
 */
export function park(): unknown {
  const current = Fiber.current;
  // Where no fiber may switch (src/core/guard.ts), refuse before any ready fiber's turn is taken.
  checkSwitchAllowed(Fiber.root);
  while (size > 0) {
    const entry = ring[head]!;
    if (typeof entry === 'function') break; // hub callbacks run on the hub
    const fiber = entry[resumeTarget]();
    if (fiber === current) break; // its own turn (sleep(0) with nothing else ready): via the hub
    if (!inSlice()) break;
    shift();
    if (fiber === undefined || fiber.state === 'dead') continue; // stale: its wait is over
    try {
      return switchWith(fiber, entry);
    } catch (err) {
      // Starting a fiber can fail before anything moved (no stack to be had):
      // that is the hub's error, as if the hub had started it, not this wait's.
      if (fiber.state !== 'new') throw err;
      process.nextTick(() => {
        throw err;
      });
    }
  }
  return switchWith(Fiber.root, undefined);
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
  what: string | (() => string);
  parked: boolean;
  /** Where it waits, asked for only by that report (see probeWaitSite). */
  site: { stack?: string } | undefined;
  /** Its sleep(0) turn, reused from one call to the next. */
  turn: Turn | undefined;
}

// One record per fiber that ever parked, reused, kept on the fiber itself: no
// map lookup on the switch path (a WeakMap's was 5 % of a sleep(0) among 1,000).
function infoOf(fiber: Fiber): ParkInfo {
  let info = hubRecord(fiber) as ParkInfo | undefined;
  if (info === undefined) {
    if (!reporting) {
      reporting = true;
      process.on('beforeExit', reportBlocked);
    }
    info = { what: '', parked: false, site: undefined, turn: undefined };
    setHubRecord(fiber, info);
  }
  return info;
}

/**
 * The value the "blocked forever" report switches into a parked fiber with:
 * its wait records where it waits and parks again (nothing else changes).
 */
const PROBE: unique symbol = Symbol('stackful.probe');

/** This package's own code, built and (with source maps) as written: its frames are left out of the sites shown. */
const OWN_CODE = ['dist', 'src'].map((dir) => path.join(__dirname, '..', '..', dir) + path.sep);

/** The first three frames of `stack` outside this package, as "at ..." lines, or undefined when there are none. */
export function userFrames(stack: string | undefined): string | undefined {
  const frames = stack
    ?.split('\n')
    .slice(1)
    .filter((line) => !OWN_CODE.some((dir) => line.includes(dir)))
    .slice(0, 3)
    .join('\n');
  return frames ? `at ${frames.trim().replace(/^at /, '')}` : undefined;
}

/** Waiter's internal half of parkOn(), and its timer's. */
const timedWait: unique symbol = Symbol('stackful.timedWait');
const expireWait: unique symbol = Symbol('stackful.expireWait');

function expire(waiter: Waiter<unknown>): void {
  waiter[expireWait]();
}

/**
 * The one way to wait with a time limit (gevent's _primitive_wait): every
 * primitive, green module and sleep() parks through it. Parks the running
 * fiber on `waiter` until it is settled, or at most `timeout` ms (no limit
 * when undefined). Returns true when it was settled (a wake that raced with
 * the time limit counts as a wake; a fail() throws its error), false when the
 * time ran out first: the waiter is then still unsettled, so the caller's
 * `finally` takes it off its wait list and nothing was handed over. An
 * exception raised in the fiber meanwhile (kill(), an outer Timeout) unwinds
 * out of it, as out of wait().
 */
export function parkOn(waiter: Waiter<unknown>, what: string | (() => string), timeout: number | undefined): boolean {
  if (timeout === undefined) {
    waiter.wait(what);
    return true;
  }
  return waiter[timedWait](what, timeout);
}

/**
 * A one-shot rendezvous between one parked fiber and whoever wakes it
 * (gevent's Waiter). `wait()` parks the calling fiber until `wake(value)` or
 * `fail(err)`; waking before the wait makes the wait return at once.
 *
 * Contract: woken from the hub (an event-loop callback), the fiber runs at
 * once, inside the wake() call; woken from a fiber, it joins the ready queue
 * and runs when its turn comes: switched to straight from the next fiber that
 * parks, or from the hub's next drain. An exception
 * thrown into the waiting fiber (kill(), a Timeout) unwinds out of wait() even
 * if a wake() came first but had not been delivered yet; the caller decides
 * what to do with a value that arrived too late (see `settled`). A resume that
 * was queued for a wait that has since ended is dropped.
 */
export class Waiter<T = unknown> implements Resumable {
  #fiber: Fiber | undefined;
  #settled = false;
  #expired = false;
  #failed = false;
  #value: T | undefined;
  #error: unknown;

  get waiting(): boolean {
    return this.#fiber !== undefined;
  }

  get settled(): boolean {
    return this.#settled;
  }

  /**
   * `what` names what the fiber waits for in the "blocked forever" report: a
   * string, or a function returning it (called only if the report is made).
   */
  wait(what: string | (() => string) = 'Waiter.wait'): T {
    if (!this.#settled) this.#park(what);
    if (this.#failed) throw this.#error;
    return this.#value as T;
  }

  wake(value: T): void {
    this.#settle(false, value, undefined);
  }

  fail(error: unknown): void {
    this.#settle(true, undefined, error);
  }

  /** @internal parkOn()'s half: wait() for at most `ms`; false when the time ran out first (the waiter is then not settled). */
  [timedWait](what: string | (() => string), ms: number): boolean {
    if (!this.#settled) {
      const timer = setTimeout(expire, ms, this);
      try {
        this.#park(what);
      } finally {
        clearTimeout(timer);
      }
      if (!this.#settled) return false;
    }
    if (this.#failed) throw this.#error;
    return true;
  }

  /** @internal The timer of [timedWait]: resumes the fiber without settling the waiter. */
  [expireWait](): void {
    if (this.#settled || this.#fiber === undefined) return;
    this.#expired = true;
    this.#resume(this.#fiber);
  }

  /** Parks the running fiber until the waiter is settled or its [timedWait] time runs out. */
  #park(what: string | (() => string)): void {
    const fiber = Fiber.current;
    if (fiber === Fiber.root) currentFiberFor('wait', `(${typeof what === 'function' ? what() : what})`);
    const info = infoOf(fiber);
    info.what = what;
    info.parked = true;
    this.#fiber = fiber;
    this.#expired = false;
    try {
      // Whatever the hub passes back is ignored: the outcome is in this waiter.
      while (!this.#settled && !this.#expired) if (park() === PROBE) recordWaitSite(info);
    } finally {
      info.parked = false;
      this.#fiber = undefined;
    }
  }

  #settle(failed: boolean, value: T | undefined, error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failed = failed;
    this.#value = value;
    this.#error = error;
    const fiber = this.#fiber;
    if (fiber !== undefined) this.#resume(fiber);
  }

  #resume(fiber: Fiber): void {
    if (Fiber.current === Fiber.root) {
      if (fiber.state === 'suspended') switchWith(fiber, undefined);
      return;
    }
    // The waiter itself is the ready-queue entry: no closure per wake.
    enqueue(this);
  }

  /** @internal The fiber to resume: only if it still waits here (a timeout or kill may have ended the wait). */
  [resumeTarget](): Fiber | undefined {
    return this.#fiber;
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
 * exit code was already set. Installed when a fiber first parks (infoOf):
 * importing stackful adds no listener.
 */
let reporting = false;
function reportBlocked(): void {
  const stuck: Array<[Fiber, ParkInfo]> = [];
  for (const fiber of liveFibers()) {
    const info = hubRecord(fiber) as ParkInfo | undefined;
    if (info?.parked) stuck.push([fiber, info]);
  }
  if (stuck.length === 0) return;
  const lines = [`stackful: the event loop has no more work, but ${stuck.length} fiber(s) still wait and can never be woken:`];
  for (const [fiber, info] of stuck) {
    info.parked = false; // reported once
    lines.push(`  ${fiber} waits in ${typeof info.what === 'function' ? info.what() : info.what}`);
    const waitsAt = userFrames(probeWaitSite(fiber, info));
    if (waitsAt) lines.push(`    ${waitsAt.replace(/\n\s*/g, '\n    ')}`);
    const site = spawnSites.get(fiber)?.spawnedAt;
    if (site) lines.push(`    spawned ${site.trim().replace(/\n\s*/g, '\n      ')}`);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  if (!process.exitCode) process.exitCode = 1;
}

/**
 * Where a parked fiber waits: recorded by the fiber itself, on its own stack,
 * when the report switches into it with PROBE (its wait then parks again).
 * Nothing is recorded while fibers run, so waits cost nothing for this.
 */
function probeWaitSite(fiber: Fiber, info: ParkInfo): string | undefined {
  if (fiber.state !== 'suspended' || Fiber.current !== Fiber.root) return undefined;
  try {
    fiber.switch(PROBE);
  } catch {
    return undefined; // the report goes on without it
  }
  return info.site?.stack;
}

function recordWaitSite(info: ParkInfo): void {
  const site: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 12;
  Error.captureStackTrace(site, recordWaitSite);
  Error.stackTraceLimit = limit;
  info.site = site;
}

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
  // One turn per fiber, reused: no garbage per sleep(0), which matters when
  // every scavenge walks the stacks of the fibers that ran. A turn still in
  // the queue (its sleep(0) left by an exception) is not reused.
  const info = infoOf(fiber);
  let turn = info.turn;
  if (turn === undefined || turn.queued) turn = info.turn = new Turn(fiber);
  turn.left = false;
  turn.queued = true;
  enqueue(turn);
  try {
    // Resumed with `turn` itself when the queue reaches it; anything else is a stray switch.
    while (park() !== turn);
    turn.queued = false; // taken off the queue to resume this fiber
  } finally {
    turn.left = true;
  }
}

/** A sleep(0)'s place in the ready queue. */
class Turn implements Resumable {
  left = false;
  queued = false;
  constructor(readonly fiber: Fiber) {}

  [resumeTarget](): Fiber | undefined {
    return this.left ? undefined : this.fiber;
  }
}

/**
 * One object of each kind the hub makes per fiber or per wait, kept for good
 * (greenlet.ts keeps a Greenlet). V8 keeps the shape (map) that an object's
 * fields give it only while some object has it: a full GC at a moment when no
 * fiber was alive (between two bursts, or the benchmark's gc() before each
 * run) dropped those shapes, and with them the hub's optimized code, which
 * every fiber parked in it then left through a deoptimization of its own:
 * 1,000 of them at the next round of sleep(0) among 1,000, twice as slow.
 */
export const keptShapes: object[] = [new Turn(Fiber.root), new Waiter()];

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
  parkOn(new Waiter<void>(), `sleep(${ms})`, ms);
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
