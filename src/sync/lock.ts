/**
 * Lock and RLock: mutual exclusion between fibers.
 *
 * A Lock is a BoundedSemaphore(1): releasing it while unlocked is an error,
 * since a second token would let two fibers in. An RLock belongs to the fiber
 * that acquired it: that fiber may acquire it again (each acquire needs its
 * release), and no other fiber may release it.
 */
import { Fiber } from '../core/fiber.js';
import { SyncError } from '../core/errors.js';
import { currentFiberFor } from '../hub/hub.js';
import { checkOptions, type BlockOptions } from '../hub/park.js';
import { BoundedSemaphore } from './semaphore.js';

export class Lock extends BoundedSemaphore {
  constructor() {
    super(1);
  }

  protected override checkRelease(counter: number): void {
    if (counter >= 1) throw new SyncError('ERR_LOCK_NOT_LOCKED', 'cannot release a Lock that is not locked; release() only after acquire() returned true');
  }
}

function describe(fiber: Fiber): string {
  return fiber === Fiber.root ? 'the root fiber' : `fiber #${fiber.id}${fiber.name ? ` (${JSON.stringify(fiber.name)})` : ''}`;
}

export class RLock {
  #lock = new Lock();
  #owner: Fiber | undefined;
  #count = 0;

  /** The fiber that holds it, if any. */
  get owner(): Fiber | undefined {
    return this.#owner;
  }

  /** How many times its owner has acquired it without releasing. */
  get count(): number {
    return this.#count;
  }

  /** Held by some fiber (or handed to a waiting one that has not resumed yet). */
  locked(): boolean {
    return this.#lock.locked();
  }

  /** Held by the running fiber. */
  isOwned(): boolean {
    return this.#owner !== undefined && this.#owner === Fiber.current;
  }

  /**
   * Acquires it for the running fiber: at once if that fiber already holds it,
   * else like Lock#acquire() (FIFO, at most `timeout` ms). Returns whether it
   * holds the lock.
   */
  acquire(options: BlockOptions = {}): boolean {
    const { block } = checkOptions(options);
    const me = block ? currentFiberFor('acquire an RLock') : Fiber.current;
    if (this.#owner === me) {
      this.#count++;
      return true;
    }
    if (!this.#lock.acquire(options)) return false;
    this.#owner = me;
    this.#count = 1;
    return true;
  }

  /** Undoes one acquire(); the last one lets the next waiting fiber in. Only the owner may call it. */
  release(): void {
    const me = Fiber.current;
    if (this.#owner !== me) {
      const why = this.#owner === undefined ? 'it is not locked' : `it is held by ${describe(this.#owner)}`;
      throw new SyncError('ERR_LOCK_NOT_OWNED', `cannot release RLock from ${describe(me)}: ${why}; only the fiber that acquired it can release it`);
    }
    if (--this.#count > 0) return;
    this.#owner = undefined;
    this.#lock.release();
  }

  toString(): string {
    return `RLock (${this.#owner === undefined ? 'unlocked' : `held ${this.#count}x by ${describe(this.#owner)}`})`;
  }
}
