/**
 * What every primitive in src/sync shares: checking a timeout argument,
 * parking in a line of waiters (on the hub's parkOn()), removing from a list.
 *
 * The rule every primitive follows: a Waiter in a wait list is woken with the
 * thing it waited for already handed over (a token, an item, a flag). Between
 * that wake and the moment the fiber runs again, an outer Timeout or a kill()
 * may still be raised in it; the primitive's `finally` then sees
 * `waiter.settled` and either keeps what was handed over (parkOn() returned
 * true: a time limit that ran out just after the wake does not count) or gives
 * it back (an exception leaves the call), so nothing is lost or counted twice.
 * A wait whose own time limit ran out leaves its waiter unsettled: nothing was
 * handed over, and the `finally` takes it off the list.
 */
import { invalidArgType, outOfRange } from '../core/errors.js';
import { parkOn, Waiter } from './hub.js';

/** `undefined` (no timeout) or a number of milliseconds >= 0. */
export function checkTimeout(timeout: unknown, name = 'timeout'): number | undefined {
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number') throw invalidArgType(name, 'a number of milliseconds or undefined', timeout);
  if (!(timeout >= 0)) throw outOfRange(name, 'a number >= 0 (milliseconds)', timeout);
  return timeout;
}

/** The options every blocking call takes. */
export interface BlockOptions {
  /** false: never park; fail at once instead (default true). */
  block?: boolean;
  /** Give up after this many milliseconds (default: wait as long as it takes). */
  timeout?: number;
}

const DEFAULT_OPTIONS: { readonly block: boolean; readonly timeout: number | undefined } = Object.freeze({ block: true, timeout: undefined });

/** Checks the options of a blocking call; undefined means the defaults (and costs no allocation on the hot path). */
export function checkOptions(options: unknown): { readonly block: boolean; readonly timeout: number | undefined } {
  if (options === undefined) return DEFAULT_OPTIONS;
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  const { block = true, timeout } = options as BlockOptions;
  if (typeof block !== 'boolean') throw invalidArgType('block', 'a boolean', block);
  return { block, timeout: checkTimeout(timeout) };
}

/**
 * Parks the running fiber in `line`, a list of waiters that the primitive
 * wakes (in order) when what they wait for happens: a new waiter joins the
 * line, parks as parkOn() (hub.ts) does, and leaves the line however the wait ends.
 */
export function parkInLine(line: Array<Waiter<void>>, what: string, timeout: number | undefined): boolean {
  const waiter = new Waiter<void>();
  line.push(waiter);
  try {
    return parkOn(waiter, what, timeout);
  } finally {
    removeFrom(line, waiter);
  }
}

/** Removes `item` from `list` if it is there. */
export function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/**
 * A FIFO of waiting parties (getters, putters): push at the back, shift from
 * the front, remove from anywhere. Unlike a JS array's shift(), shift() here
 * moves nothing and keeps its storage: a queue handing items over one at a
 * time fills and empties its line on every message.
 */
export class Line<T> {
  #items: Array<T | undefined> = [];
  #head = 0;
  #tail = 0;

  get length(): number {
    return this.#tail - this.#head;
  }

  push(item: T): void {
    this.#items[this.#tail++] = item;
  }

  shift(): T | undefined {
    if (this.#head === this.#tail) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
    else if (this.#head >= 1024 && this.#head * 2 >= this.#tail) this.#compact();
    return item;
  }

  /** Removes `item` if it is in the line. */
  remove(item: T): void {
    const items = this.#items;
    for (let i = this.#head; i < this.#tail; i++) {
      if (items[i] !== item) continue;
      items.copyWithin(i, i + 1, this.#tail);
      items[--this.#tail] = undefined;
      if (this.#head === this.#tail) this.#head = this.#tail = 0;
      return;
    }
  }

  #compact(): void {
    this.#items = this.#items.slice(this.#head, this.#tail);
    this.#tail -= this.#head;
    this.#head = 0;
  }
}
