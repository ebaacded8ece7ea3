/**
 * Green Atomics.wait: inside a fiber, the wait goes through
 * `Atomics.waitAsync` and parks only the calling fiber, so libraries that
 * block a thread on shared memory until a worker answers (synckit,
 * sync-threads, sync-message-port) let other fibers run meanwhile. On the
 * root fiber, and where a fiber must not switch (guard.ts), it is Node's own.
 *
 * Same arguments, errors and results as Atomics.wait: waitAsync checks its
 * arguments the same way (a shared Int32Array or BigInt64Array, an index in
 * range) and answers 'not-equal' or 'timed-out' (timeout 0 or less) at once;
 * otherwise 'ok' when notified, 'timed-out' past `timeout` ms (NaN or
 * undefined: no limit). Node answers Atomics.notify() from another thread or
 * from this one alike.
 *
 * Two differences from a blocked thread, both handled here:
 *  - a pending waitAsync does not keep Node's event loop alive, and a thread
 *    blocked in Atomics.wait would not have exited: a ref'd timer stands in
 *    while the fiber waits (synckit's worker, for one, is unref'd);
 *  - a fiber killed while it waits leaves its waitAsync behind, still in V8's
 *    queue of waiters for that cell, where it would take a later notify()
 *    meant for a live waiter: when such a leftover is woken, the wake-up is
 *    passed on with one more notify(…, 1).
 */
import { mayPark } from '../core/guard.js';
import { Waiter } from '../hub/hub.js';

type Wait = (typedArray: Int32Array | BigInt64Array, index: number, value: number | bigint, timeout?: number) => 'ok' | 'not-equal' | 'timed-out';
type WaitAsync = (typedArray: Int32Array | BigInt64Array, index: number, value: number | bigint, timeout?: number) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
const KEEP_ALIVE_MS = 2 ** 31 - 1; // the longest timer Node accepts
const noop = (): void => {};

/** One ref'd timer for all the fibers of this thread that wait in Atomics.wait. */
let waiting = 0;
let keepAlive: NodeJS.Timeout | undefined;

function holdLoop(): void {
  if (waiting++ === 0) keepAlive = setInterval(noop, KEEP_ALIVE_MS);
}

function releaseLoop(): void {
  if (--waiting === 0) clearInterval(keepAlive);
}

/** Whether this Node has Atomics.waitAsync, which the green Atomics.wait needs. */
export const ATOMICS_COVERED: readonly string[] = typeof waitAsync === 'function' ? ['wait'] : [];

export function greenAtomicsWait(original: Wait): Wait {
  const green = function wait(this: unknown, ...args: Parameters<Wait>): ReturnType<Wait> {
    if (!mayPark()) return Reflect.apply(original, this, args);
    const [typedArray, index] = args;
    const started = Reflect.apply(waitAsync!, Atomics, args);
    if (!started.async) return started.value;
    const waiter = new Waiter<'ok' | 'timed-out'>();
    let left = false;
    started.value.then((outcome) => {
      if (!left) waiter.wake(outcome);
      else if (outcome === 'ok') Atomics.notify(typedArray as Int32Array, index, 1);
    });
    holdLoop();
    try {
      return waiter.wait('Atomics.wait');
    } finally {
      left = true;
      releaseLoop();
    }
  };
  Object.defineProperty(green, 'length', { value: original.length });
  return green;
}
