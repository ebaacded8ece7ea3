/**
 * The adapter every green `*Sync` function in src/patch is built with (fs,
 * zlib, crypto): on the root fiber, Node's own function; in a fiber, its
 * error-first callback twin while only the calling fiber is parked. A Recipe
 * says how one sync function differs from its twin.
 */
import { mayPark } from '../core/guard.js';
import { Waiter } from '../hub/hub.js';

export type Callback = (err: NodeJS.ErrnoException | null, ...results: unknown[]) => void;
export type Twin = (...args: unknown[]) => void;

/** How a sync function maps onto its callback twin. */
export interface Recipe {
  /** The twin's results, as the sync function returns them (default: the first). */
  result?: (results: unknown[], args: unknown[]) => unknown;
  /** An error the sync function turns into a return value instead. */
  rescue?: (err: NodeJS.ErrnoException, args: unknown[]) => { value: unknown } | undefined;
  /** A result that arrives after the fiber stopped waiting: release it. */
  late?: (results: unknown[]) => void;
  /** Calls that run Node's own function even in a fiber (writes to stdout and stderr). */
  inPlace?: (args: unknown[]) => boolean;
}

/**
 * The green version of a sync function whose error-first callback twin does
 * the same work off the thread: on the root fiber, `original`; in a fiber,
 * `twin(...args, callback)` while the fiber is parked. Where a fiber must not
 * switch (a timed vm run, process exit: see guard.ts), `original` too.
 */
export function greenFromCallback(
  what: string,
  original: (...args: unknown[]) => unknown,
  twin: Twin,
  recipe: Recipe = {},
): (...args: unknown[]) => unknown {
  const green = function (this: unknown, ...args: unknown[]): unknown {
    if (!mayPark() || recipe.inPlace?.(args) === true) return original.apply(this, args);
    const waiter = new Waiter<unknown[]>();
    let waiting = true;
    twin.call(undefined, ...args, (err: NodeJS.ErrnoException | null, ...results: unknown[]) => {
      if (!waiting) {
        if (err === null) recipe.late?.(results);
        return;
      }
      if (err !== null) {
        const rescued = recipe.rescue?.(err, args);
        if (rescued !== undefined) waiter.wake([rescued.value]);
        else waiter.fail(err);
      } else {
        waiter.wake(results);
      }
    });
    try {
      const results = waiter.wait(what);
      return recipe.result ? recipe.result(results, args) : results[0];
    } finally {
      waiting = false;
    }
  };
  Object.defineProperty(green, 'name', { value: original.name });
  Object.defineProperty(green, 'length', { value: original.length });
  // Keep what hangs off the original (realpathSync.native, ...), unpatched.
  for (const key of Reflect.ownKeys(original)) {
    if (key === 'name' || key === 'length' || key === 'prototype') continue;
    Object.defineProperty(green, key, Object.getOwnPropertyDescriptor(original, key)!);
  }
  return green;
}
