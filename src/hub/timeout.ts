/**
 * Timeout: a deadline for the fiber that starts it (gevent's Timeout). When it
 * expires, its error is raised in that fiber wherever it is parked, so any
 * blocking call (sleep, wait, join, a queue, a lock) gives up and unwinds.
 *
 *   using t = new Timeout(100).start();   // or t.cancel() in a finally
 *   Timeout.run(100, () => queue.get());  // throws TimeoutError after 100 ms
 */
import { Fiber } from '../core/fiber.js';
import { currentFiberFor, throwInto } from './hub.js';

/** Usage error: a Timeout expired (code ERR_FIBER_TIMEOUT). Raised in the fiber that started it. */
export class TimeoutError extends Error {
  readonly code = 'ERR_FIBER_TIMEOUT';
  readonly ms: number;

  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.ms = ms;
  }
}
Object.defineProperty(TimeoutError.prototype, 'name', { value: 'TimeoutError', configurable: true, writable: true });

export class Timeout {
  readonly ms: number;
  readonly error: unknown;
  #timer: NodeJS.Timeout | undefined;
  #fiber: Fiber | undefined;
  #expired = false;

  /** `error` is what gets raised (default: a TimeoutError). */
  constructor(ms: number, error?: unknown) {
    if (typeof ms !== 'number' || !(ms >= 0)) throw new RangeError(`expected \`ms\` to be a number >= 0, got ${String(ms)}`);
    this.ms = ms;
    this.error = error ?? new TimeoutError(ms);
  }

  /** Arms the deadline for the running fiber. */
  start(): this {
    if (this.#timer !== undefined) return this;
    this.#fiber = currentFiberFor('start a Timeout');
    this.#expired = false;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#expired = true;
      const fiber = this.#fiber!;
      if (!fiber.dead && fiber !== Fiber.current) throwInto(fiber, this.error);
    }, this.ms);
    return this;
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  get expired(): boolean {
    return this.#expired;
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.cancel();
  }

  /**
   * Runs `fn` under a deadline of `ms` (none when undefined). When it expires:
   * returns `fallback` if one is given (even null), else throws the TimeoutError.
   */
  static run<R, F = never>(ms: number | undefined, fn: () => R, ...fallback: [] | [F]): R | F {
    if (ms === undefined) return fn();
    const timeout = new Timeout(ms).start();
    try {
      return fn();
    } catch (err) {
      if (err === timeout.error && fallback.length > 0) return fallback[0] as F;
      throw err;
    } finally {
      timeout.cancel();
    }
  }

  static error(ms: number): TimeoutError {
    return new TimeoutError(ms);
  }
}

/** Runs `fn(...args)` with a deadline of `ms`; throws TimeoutError when it expires. */
export function withTimeout<A extends unknown[], R>(ms: number, fn: (...args: A) => R, ...args: A): R {
  return Timeout.run(ms, () => fn(...args));
}
