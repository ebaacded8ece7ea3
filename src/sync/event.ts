/**
 * Event and AsyncResult: wake every waiting fiber at once.
 *
 * An Event is a flag fibers wait to see set. An AsyncResult is a value (or an
 * exception) that arrives once; fibers get() it and async code awaits it.
 */
import { SyncError } from '../core/errors.js';
import { currentFiberFor, Waiter } from '../hub/hub.js';
import { TimeoutError } from '../hub/timeout.js';
import { checkOptions, checkTimeout, parkInLine, type BlockOptions } from '../hub/park.js';

/**
 * Wakes every waiter of `list` in FIFO order. Callers detach the list first:
 * woken from the hub, a fiber runs at once and may wait again.
 */
function wakeAll(list: Array<Waiter<void>>): void {
  // A copy: woken from the hub, a fiber runs at once and leaves `list` (parkInLine), which would skip the next one.
  for (const waiter of [...list]) waiter.wake();
}

export class Event {
  #flag = false;
  #waiters: Array<Waiter<void>> = [];

  isSet(): boolean {
    return this.#flag;
  }

  /** Sets the flag and wakes every waiting fiber; later wait() calls return at once. */
  set(): void {
    this.#flag = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    wakeAll(waiters);
  }

  /** Resets the flag: wait() blocks again until the next set(). */
  clear(): void {
    this.#flag = false;
  }

  /**
   * Waits until the flag is set, at most `timeout` ms. Returns true if it was
   * set (a fiber woken by set() returns true even if clear() ran before it
   * resumed: it saw the event happen), false on timeout.
   */
  wait(timeout?: number): boolean {
    const ms = checkTimeout(timeout);
    currentFiberFor('wait for an Event');
    if (this.#flag) return true;
    return parkInLine(this.#waiters, 'Event.wait()', ms);
  }

  toString(): string {
    return `Event (${this.#flag ? 'set' : 'clear'}, ${this.#waiters.length} waiting)`;
  }
}

type Outcome<T> = { failed: false; value: T } | { failed: true; error: unknown };

/**
 * A value that arrives once, from any fiber or from the hub. Unlike gevent's,
 * it is set exactly once: a second set() or setException() is a usage error,
 * because fibers and promise callbacks may already have acted on the first.
 */
export class AsyncResult<T = unknown> implements PromiseLike<T> {
  #outcome: Outcome<T> | undefined;
  #waiters: Array<Waiter<void>> = [];
  #callbacks: Array<() => void> = [];

  ready(): boolean {
    return this.#outcome !== undefined;
  }

  /** Set with a value (not an exception). */
  successful(): boolean {
    return this.#outcome !== undefined && !this.#outcome.failed;
  }

  get value(): T | undefined {
    return this.#outcome !== undefined && !this.#outcome.failed ? this.#outcome.value : undefined;
  }

  get exception(): unknown {
    return this.#outcome !== undefined && this.#outcome.failed ? this.#outcome.error : undefined;
  }

  /** Stores `value` and wakes every waiting fiber. */
  set(value: T): void {
    this.#settle({ failed: false, value }, 'set');
  }

  /** Stores `error`: get() throws it in every waiting fiber. */
  setException(error: unknown): void {
    this.#settle({ failed: true, error }, 'setException');
  }

  /**
   * The value, waiting for it at most `timeout` ms; throws the exception if one
   * was set, a TimeoutError (ERR_FIBER_TIMEOUT) when the timeout expires, and
   * SyncError ERR_NOT_READY with `block: false` when nothing is set yet.
   */
  get(options: BlockOptions = {}): T {
    const { block, timeout } = checkOptions(options);
    if (block) currentFiberFor('get an AsyncResult');
    if (this.#outcome === undefined) {
      if (!block) throw new SyncError('ERR_NOT_READY', 'AsyncResult has no value yet: wait for it (get() without `block: false`) or check ready() first');
      if (!this.#park('AsyncResult.get()', timeout)) throw new TimeoutError(timeout!);
    }
    const outcome = this.#outcome!;
    if (outcome.failed) throw outcome.error;
    return outcome.value;
  }

  /**
   * Waits until it is set, at most `timeout` ms, and returns the value; returns
   * undefined when it timed out or when an exception was set (never throws it).
   */
  wait(timeout?: number): T | undefined {
    const ms = checkTimeout(timeout);
    currentFiberFor('wait for an AsyncResult');
    if (this.#outcome === undefined) this.#park('AsyncResult.wait()', ms);
    return this.value;
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        const outcome = this.#outcome!;
        if (outcome.failed) reject(outcome.error);
        else resolve(outcome.value);
      };
      if (this.#outcome !== undefined) settle();
      else this.#callbacks.push(settle);
    }).then(onFulfilled, onRejected);
  }

  toString(): string {
    const state = this.#outcome === undefined ? 'pending' : this.#outcome.failed ? 'failed' : 'set';
    return `AsyncResult (${state})`;
  }

  #park(what: string, timeout: number | undefined): boolean {
    return parkInLine(this.#waiters, what, timeout);
  }

  #settle(outcome: Outcome<T>, verb: string): void {
    if (this.#outcome !== undefined) {
      throw new SyncError('ERR_ASYNC_RESULT_SETTLED', `cannot ${verb}() an AsyncResult that is already ${this.#outcome.failed ? 'failed' : 'set'}: it settles once; create a new AsyncResult for the next value`);
    }
    this.#outcome = outcome;
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const callback of callbacks) callback();
    const waiters = this.#waiters;
    this.#waiters = [];
    wakeAll(waiters);
  }
}
