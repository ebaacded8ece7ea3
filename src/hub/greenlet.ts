/**
 * Greenlet: a fiber scheduled by the hub (gevent's Greenlet).
 *
 * `spawn(fn, ...args)` creates one and starts it on the next loop turn. It is
 * a thenable, so async code can `await` it; fibers `join()` or `get()` it.
 */
import { Fiber, releaseFiberId } from '../core/fiber.js';
import { settings } from '../core/settings.js';
import { FiberError, FiberExit, invalidArgType } from '../core/errors.js';
import { callSoon, currentFiberFor, enqueue, finishInto, keptShapes, parkOn, resumeTarget, spawnSites, throwInto, userFrames, Waiter, type Resumable } from './hub.js';
import { removeFrom } from './park.js';
import { Timeout } from './timeout.js';

export type GreenletState = 'pending' | 'running' | 'succeeded' | 'failed';

let nextGreenletId = 1;

/** Frames captured for a spawn site: the three shown, and room for this module's own (spawn(), Pool#spawn(), ...). */
const SITE_FRAMES = 6;

let recordSpawnSites = settings.spawnSites;

/**
 * Whether new greenlets record where they were spawned, for the report of
 * fibers that wait forever (default: off; on with STACKFUL_SPAWN_SITES=1).
 * Recording takes V8 about 3 µs per greenlet (it summarizes optimized
 * frames), several times the rest of spawning and joining one. The report
 * says what and where each fiber waits either way (its own frames, taken
 * only when the report is made); spawn sites add where it came from
 * (gevent's track_greenlet_tree plays the same part).
 */
export function setSpawnSites(enabled: boolean): void {
  recordSpawnSites = enabled;
}

export class Greenlet<T = unknown> implements PromiseLike<T>, Resumable {
  readonly id = nextGreenletId++;
  readonly name: string;
  readonly fiber: Fiber;
  #fn: ((...args: any[]) => T) | undefined;
  #args: unknown[];
  #started = false;
  #dead = false;
  #value: T | undefined;
  #exception: unknown;
  #failed = false;
  #observed = false; // someone asked for the outcome: failures are not "unhandled"
  // Made on first use: most greenlets are joined once or not at all.
  #links: Array<(g: Greenlet<T>) => void> | undefined;
  #joiners: Array<Waiter<void>> | undefined;
  // Where spawn() was called: captured on creation, formatted only when read
  // (formatting costs about a microsecond a frame; capturing, much less).
  #site: { stack?: string } | undefined;

  /**
   * `spawnSite: false` skips recording where it was spawned even when
   * setSpawnSites() is on: for greenlets always spawned from the same place,
   * whose name says more (stackful/server's one per request).
   */
  constructor(fn: (...args: any[]) => T, args: unknown[] = [], options: { name?: string; spawnSite?: boolean } = {}) {
    if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn);
    if (!shapeKept) keepShape();
    this.#fn = fn;
    this.#args = args;
    this.name = options.name ?? fn.name ?? '';
    this.fiber = new Fiber(() => {
      this.#run();
      // Finished: straight into the next ready fiber (often its joiner) rather than through the hub.
      return finishInto(this.fiber);
    }, { name: this.name || `greenlet #${this.id}`, parent: Fiber.root });
    if (recordSpawnSites && options.spawnSite !== false) {
      this.#site = {};
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = SITE_FRAMES;
      Error.captureStackTrace(this.#site, Greenlet);
      Error.stackTraceLimit = limit;
      spawnSites.set(this.fiber, this);
    }
  }

  /** Where spawn() was called (up to three frames), for the "blocked forever" report; undefined unless recorded (setSpawnSites(true)). */
  get spawnedAt(): string | undefined {
    return userFrames(this.#site?.stack);
  }

  /** Creates a greenlet and starts it on the next loop turn. */
  static spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<R> {
    const g = new Greenlet<R>(fn, args);
    g.start();
    return g;
  }

  /** Schedules the greenlet to start on the next loop turn. */
  start(): void {
    if (this.#started || this.#dead) return;
    this.#started = true;
    // The greenlet is its own ready-queue entry: a fiber that parks may start it directly.
    enqueue(this);
  }

  /** @internal For the ready queue: the fiber to start, unless it was killed or started meanwhile. */
  [resumeTarget](): Fiber | undefined {
    return !this.#dead && this.fiber.state === 'new' ? this.fiber : undefined;
  }

  /** Starts the greenlet after `ms` milliseconds. */
  startLater(ms: number): void {
    if (this.#started || this.#dead) return;
    this.#started = true;
    const timer = setTimeout(() => {
      if (!this.#dead && this.fiber.state === 'new') this.fiber.switch();
    }, ms);
    (this.#links ??= []).push(() => clearTimeout(timer)); // killed before it started
  }

  get started(): boolean {
    return this.#started;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Finished, either way. */
  ready(): boolean {
    return this.#dead;
  }

  /** Finished without an exception (a kill() counts as success). */
  successful(): boolean {
    return this.#dead && !this.#failed;
  }

  get value(): T | undefined {
    return this.#value;
  }

  get exception(): unknown {
    this.#observed = true;
    return this.#exception;
  }

  /** Calls `callback(greenlet)` on the hub when it finishes (at once if it has). */
  link(callback: (g: Greenlet<T>) => void): void {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'a function', callback);
    this.#observed = true;
    if (this.#dead) callSoon(() => callback(this));
    else (this.#links ??= []).push(callback);
  }

  /**
   * Like link(), but does not count as looking at the outcome: a failure is
   * still reported if nobody else does (gevent's rawlink; for Group and Pool).
   */
  rawlink(callback: (g: Greenlet<T>) => void): void {
    if (typeof callback !== 'function') throw invalidArgType('callback', 'a function', callback);
    if (this.#dead) callSoon(() => callback(this));
    else (this.#links ??= []).push(callback);
  }

  unlink(callback: (g: Greenlet<T>) => void): void {
    if (this.#links !== undefined) removeFrom(this.#links, callback);
  }

  /** Waits until it finishes, at most `timeoutMs`; returns whether it finished. */
  join(timeoutMs?: number): boolean {
    this.#observed = true;
    if (this.#dead) return true;
    currentFiberFor('join a greenlet');
    const waiter = new Waiter<void>();
    (this.#joiners ??= []).push(waiter);
    // Formatted only if the "blocked forever" report asks.
    const what = (): string => `join(${this})`;
    try {
      parkOn(waiter, what, timeoutMs);
    } finally {
      // Woken joiners were taken off with the whole list.
      if (!waiter.settled && this.#joiners !== undefined) removeFrom(this.#joiners, waiter);
    }
    return this.#dead;
  }

  /** Its value once it finishes, or its exception thrown; a Timeout error past `timeout` ms. */
  get(options: { timeout?: number; block?: boolean } = {}): T {
    this.#observed = true;
    if (!this.#dead) {
      if (options.block === false) throw new FiberError('ERR_GREENLET_NOT_READY', `${this} has not finished`);
      const finished = this.join(options.timeout);
      if (!finished) throw Timeout.error(options.timeout!);
    }
    if (this.#failed) throw this.#exception;
    return this.#value as T;
  }

  /**
   * Raises `error` (default FiberExit) in the greenlet. With `block` (the
   * default) waits until it has finished, at most `timeout` ms.
   */
  kill(error: unknown = new FiberExit(), options: { block?: boolean; timeout?: number } = {}): void {
    this.#observed = true;
    if (this.#dead) return;
    if (this.fiber.state === 'new') {
      // Never ran: it never will. A FiberExit is a clean finish; any other
      // error is what the greenlet failed with.
      this.#finishWith(error);
      return;
    }
    throwInto(this.fiber, error);
    if (options.block !== false && Fiber.current !== Fiber.root) this.join(options.timeout);
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#observed = true;
    return new Promise<T>((resolve, reject) => {
      const settle = (): void => (this.#failed ? reject(this.#exception) : resolve(this.#value as T));
      if (this.#dead) settle();
      else (this.#links ??= []).push(settle);
    }).then(onFulfilled, onRejected);
  }

  toString(): string {
    return `Greenlet #${this.id}${this.name ? ` (${JSON.stringify(this.name)})` : ''}`;
  }

  #run(): void {
    const fn = this.#fn!;
    const args = this.#args;
    this.#fn = undefined;
    this.#args = [];
    let result: T;
    try {
      result = fn(...args);
    } catch (err) {
      this.#finishWith(err);
      return;
    }
    this.#finish(false, result, undefined);
  }

  /** Finishes with what was thrown: a FiberExit's `value` is a clean result; anything else (a throwing `value` getter too) is the failure. */
  #finishWith(thrown: unknown): void {
    let value: T;
    try {
      if (!FiberExit.is(thrown)) return this.#finish(true, undefined, thrown);
      value = thrown.value as T;
    } catch (getter) {
      return this.#finish(true, undefined, getter);
    }
    this.#finish(false, value, undefined);
  }

  #finish(failed: boolean, value: T | undefined, error: unknown): void {
    this.#dead = true;
    this.#started = true;
    this.#failed = failed;
    this.#value = value;
    this.#exception = error;
    const joiners = this.#joiners;
    this.#joiners = undefined;
    if (joiners !== undefined) for (const waiter of joiners) waiter.wake();
    const links = this.#links;
    this.#links = undefined;
    if (links !== undefined) for (const link of links) callSoon(() => link(this));
    if (failed) {
      // Reported like an unhandled rejection unless someone looks at the outcome.
      callSoon(() => {
        if (!this.#observed) reportFailure(error, this as Greenlet<unknown>, `${this} failed and nobody joined it`);
      });
    }
  }
}

/**
 * The one channel every greenlet failure nobody handles takes (a greenlet
 * nobody joined, a request that failed in stackful/server): process
 * 'greenletError' when it is listened to, else `headline` and the stack on stderr.
 */
export function reportFailure(error: unknown, g: Greenlet<any> | undefined, headline: string): void {
  if (process.listenerCount('greenletError') > 0) {
    process.emit('greenletError' as never, error as never, g as never);
    return;
  }
  const detail = error instanceof Error ? error.stack : String(error);
  process.stderr.write(`${headline}:\n${detail}\n`);
}

// A Greenlet kept for good, so that V8 keeps its shape across full GCs (see
// keptShapes in hub.ts). Made with the first greenlet, not at import (which
// makes no fiber: test/module.test.ts "import side effects"). It never
// starts; its ids are given back, so greenlets and fibers still count on.
let shapeKept = false;
function keepShape(): void {
  shapeKept = true;
  keptShapes.push(new Greenlet(() => undefined, [], { name: 'kept shape', spawnSite: false }));
  nextGreenletId--;
  releaseFiberId();
}

/** gevent's spawn(): a greenlet that starts on the next loop turn. */
export function spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<R> {
  return Greenlet.spawn(fn, ...args);
}

/** A greenlet that starts after `ms` milliseconds. */
export function spawnLater<A extends unknown[], R>(ms: number, fn: (...args: A) => R, ...args: A): Greenlet<R> {
  const g = new Greenlet<R>(fn, args);
  g.startLater(ms);
  return g;
}

/**
 * Waits for all greenlets (at most `timeout` ms); returns those that finished.
 * With `raiseError`, throws the first exception as soon as one fails.
 */
export function joinAll<G extends Greenlet<unknown>>(greenlets: Iterable<G>, options: { timeout?: number; raiseError?: boolean } = {}): G[] {
  const list = [...greenlets];
  const done: G[] = [];
  for (const g of iwait(list, options.timeout)) {
    done.push(g);
    if (options.raiseError && !g.successful()) throw g.exception;
  }
  return done;
}

/** Kills every greenlet; with `block` (default), waits for all of them. */
export function killAll(greenlets: Iterable<Greenlet<unknown>>, error: unknown = new FiberExit(), options: { block?: boolean; timeout?: number } = {}): void {
  const list = [...greenlets];
  for (const g of list) g.kill(error, { block: false });
  if (options.block !== false && Fiber.current !== Fiber.root) joinAll(list, { timeout: options.timeout });
}

/** Yields the greenlets as they finish (at most `timeout` ms in all). */
export function* iwait<G extends Greenlet<unknown>>(greenlets: Iterable<G>, timeout?: number): Generator<G, void, undefined> {
  const pending = new Set(greenlets);
  const finished: G[] = [];
  let waiter: Waiter<void> | undefined;
  const onDone = (g: Greenlet<unknown>): void => {
    finished.push(g as G);
    waiter?.wake();
  };
  for (const g of pending) g.link(onDone);
  const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
  try {
    while (pending.size > 0) {
      if (finished.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) return;
        waiter = new Waiter<void>();
        const ok = Timeout.run(left === Infinity ? undefined : left, () => {
          waiter!.wait('iwait');
          return true;
        }, false);
        waiter = undefined;
        if (!ok) return;
        continue;
      }
      const g = finished.shift()!;
      pending.delete(g);
      yield g;
    }
  } finally {
    for (const g of pending) g.unlink(onDone);
  }
}

/**
 * Runs `fn(...args)` in a new fiber and returns a promise of its result: the
 * bridge from async code into fibers.
 */
export function runInFiber<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<R> {
  return Promise.resolve(spawn(fn, ...args));
}

