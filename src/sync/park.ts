/**
 * What every primitive in src/sync shares: checking a timeout argument and
 * parking on a Waiter under that timeout.
 *
 * The rule every primitive follows: a Waiter in a wait list is woken with the
 * thing it waited for already handed over (a token, an item, a flag). Between
 * that wake and the moment the fiber runs again, a Timeout or a kill() may
 * still be raised in it; the primitive's `finally` then sees `waiter.settled`
 * and either keeps what was handed over (its own timeout came too late: the
 * call succeeded) or gives it back (an exception leaves the call), so nothing
 * is lost or counted twice.
 */
import { invalidArgType, outOfRange } from '../errors.js';
import { Waiter } from '../hub.js';
import { Timeout } from '../timeout.js';

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

export function checkOptions(options: unknown): { block: boolean; timeout: number | undefined } {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  const { block = true, timeout } = options as BlockOptions;
  if (typeof block !== 'boolean') throw invalidArgType('block', 'a boolean', block);
  return { block, timeout: checkTimeout(timeout) };
}

/**
 * Parks the running fiber on `waiter` for at most `timeout` ms (no limit when
 * undefined). Returns true when it was woken, false when the timeout expired
 * first. A wake that raced with the timeout counts as a wake. Any other
 * exception (kill(), an outer Timeout) propagates.
 */
export function parkOn(waiter: Waiter<unknown>, what: string, timeout: number | undefined): boolean {
  if (timeout === undefined) {
    waiter.wait(what);
    return true;
  }
  const deadline = new Timeout(timeout).start();
  try {
    waiter.wait(what);
    return true;
  } catch (err) {
    if (err === deadline.error) return waiter.settled;
    throw err;
  } finally {
    deadline.cancel();
  }
}

/**
 * Parks the running fiber in `line`, a list of waiters that the primitive
 * wakes (in order) when what they wait for happens: a new waiter joins the
 * line, parks as parkOn() does, and leaves the line however the wait ends.
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
