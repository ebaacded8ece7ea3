/**
 * Semaphore and BoundedSemaphore: a counter of tokens fibers acquire and release.
 *
 * Fair: a release() with fibers waiting hands its token straight to the one
 * that has waited longest, so a fiber that arrives later cannot take it first
 * (the counter stays at 0 while anyone waits).
 */
import { invalidArgType, outOfRange, SyncError } from '../core/errors.js';
import { currentFiberFor, parkOn, Waiter } from '../hub/hub.js';
import { checkOptions, checkTimeout, parkInLine, removeFrom, type BlockOptions } from '../hub/park.js';

export class Semaphore {
  #counter: number;
  /** Fibers waiting to acquire, oldest first; each is woken holding a token. */
  #acquirers: Array<Waiter<void>> = [];
  /** Fibers in wait(), woken whenever the counter rises above 0. */
  #watchers: Array<Waiter<void>> = [];

  constructor(value = 1) {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgType('value', 'an integer', value);
    if (value < 0) throw outOfRange('value', 'an integer >= 0', value);
    this.#counter = value;
  }

  /** Tokens left; 0 while fibers wait. */
  get counter(): number {
    return this.#counter;
  }

  /** No token is left: acquire() would wait. */
  locked(): boolean {
    return this.#counter <= 0;
  }

  /**
   * Takes a token, waiting for one at most `timeout` ms, in FIFO order with the
   * other waiters. Returns false when the timeout expires (or, with
   * `block: false`, when no token is free), true once it holds a token.
   */
  acquire(options: BlockOptions = {}): boolean {
    const { block, timeout } = checkOptions(options);
    if (!block) return this.#take();
    currentFiberFor('acquire a', this.constructor.name);
    if (this.#take()) return true;
    const waiter = new Waiter<void>();
    this.#acquirers.push(waiter);
    let acquired = false;
    try {
      acquired = parkOn(waiter, `${this.constructor.name}.acquire()`, timeout);
      return acquired;
    } finally {
      removeFrom(this.#acquirers, waiter);
      // Handed a token, then made to leave by an exception: pass the token on.
      if (waiter.settled && !acquired) this.#give();
    }
  }

  /**
   * Returns a token: to the longest-waiting fiber if any, else to the counter.
   * Returns the counter.
   */
  release(): number {
    if (this.#acquirers.length === 0) this.checkRelease(this.#counter);
    this.#give();
    return this.#counter;
  }

  /**
   * Waits until a token is free, at most `timeout` ms, without taking it.
   * Returns the counter.
   */
  wait(timeout?: number): number {
    const ms = checkTimeout(timeout);
    currentFiberFor('wait for a', this.constructor.name);
    if (this.#counter > 0) return this.#counter;
    parkInLine(this.#watchers, `${this.constructor.name}.wait()`, ms);
    return this.#counter;
  }

  toString(): string {
    return `${this.constructor.name} (counter ${this.#counter}, ${this.#acquirers.length} waiting)`;
  }

  /** BoundedSemaphore refuses a release that would raise `counter` past its initial value. */
  protected checkRelease(_counter: number): void {}

  #take(): boolean {
    if (this.#counter <= 0) return false;
    this.#counter--;
    return true;
  }

  #give(): void {
    const next = this.#acquirers.shift();
    if (next !== undefined) {
      next.wake();
      return;
    }
    this.#counter++;
    const watchers = this.#watchers;
    this.#watchers = [];
    for (const watcher of [...watchers]) watcher.wake(); // a copy: see wakeAll() in event.ts
  }
}

/** A Semaphore that refuses to be released more often than it was acquired. */
export class BoundedSemaphore extends Semaphore {
  readonly initialValue: number;

  constructor(value = 1) {
    super(value);
    this.initialValue = value;
  }

  protected override checkRelease(counter: number): void {
    if (counter >= this.initialValue) {
      throw new SyncError('ERR_SEMAPHORE_OVER_RELEASED', `cannot release ${this.constructor.name}: its counter is already at its initial value ${this.initialValue}; release() only what acquire() took`);
    }
  }
}
