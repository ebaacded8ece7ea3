/**
 * Group and Pool: sets of greenlets that are joined, killed and mapped over
 * together. A Pool holds at most `limit` greenlets: spawn() and add() wait
 * (FIFO) for a free slot, and a slot is freed only once its greenlet is dead,
 * so the limit is never exceeded.
 */
import { Fiber } from '../core/fiber.js';
import { FiberExit, invalidArgType, outOfRange, SyncError } from '../core/errors.js';
import { Greenlet, killAll, spawn } from '../hub/greenlet.js';
import { currentFiberFor, parkOn, Waiter } from '../hub/hub.js';
import { TimeoutError } from '../hub/timeout.js';
import { checkOptions, checkTimeout, removeFrom, type BlockOptions } from '../hub/park.js';
import { Queue } from './queue.js';
import { Semaphore } from './semaphore.js';

interface Joiner {
  waiter: Waiter<void>;
  raiseError: boolean;
}

/** What the feeder of imap() tells the consumer. */
type MapMessage<R> =
  | { kind: 'done'; index: number; greenlet: Greenlet<R> }
  | { kind: 'end'; count: number }
  | { kind: 'error'; error: unknown };

export class Group {
  #members = new Set<Greenlet<any>>();
  #joiners: Joiner[] = [];
  /** Bound once so unlink() finds it. */
  readonly #onFinished = (g: Greenlet<any>): void => {
    if (!this.#members.has(g)) return;
    if (!g.successful()) {
      for (const joiner of this.#joiners.filter((j) => j.raiseError)) {
        removeFrom(this.#joiners, joiner);
        joiner.waiter.fail(g.exception);
      }
    }
    this.discard(g);
  };

  constructor(greenlets: Iterable<Greenlet<any>> = []) {
    for (const g of greenlets) this.#addMember(g);
  }

  /**
   * Live greenlets in the group. A member that finished leaves the group (and
   * a Pool slot is freed) from the hub just after, when its links run; it is
   * not counted meanwhile.
   */
  get size(): number {
    let live = 0;
    for (const g of this.#members) if (!g.dead) live++;
    return live;
  }

  /** The live members. */
  get greenlets(): Array<Greenlet<any>> {
    return [...this.#members].filter((g) => !g.dead);
  }

  [Symbol.iterator](): Iterator<Greenlet<any>> {
    return this.greenlets[Symbol.iterator]();
  }

  has(g: Greenlet<any>): boolean {
    return this.#members.has(g);
  }

  /** A Group is never full. */
  full(): boolean {
    return false;
  }

  /** Slots left: unlimited for a Group. */
  freeCount(): number {
    return Infinity;
  }

  /** Starts `fn(...args)` in a new greenlet that belongs to the group. */
  spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<R> {
    const g = new Greenlet<R>(fn, args);
    this.#addMember(g);
    g.start();
    return g;
  }

  /** Makes `g` a member until it finishes or is discarded. Adding a member twice does nothing. */
  add(g: Greenlet<any>, _options: BlockOptions = {}): void {
    this.#addMember(g);
  }

  /** Removes `g` from the group (it keeps running). */
  discard(g: Greenlet<any>): void {
    if (!this.#members.delete(g)) return;
    g.unlink(this.#onFinished);
    this.onDiscarded(g);
    if (this.#members.size > 0) return;
    const joiners = this.#joiners;
    this.#joiners = [];
    for (const joiner of joiners) joiner.waiter.wake();
  }

  /**
   * Waits until the group is empty, at most `timeout` ms; returns whether it
   * became empty. With `raiseError`, throws the exception of the first member
   * that fails while it waits.
   */
  join(timeout?: number, options: { raiseError?: boolean } = {}): boolean {
    const ms = checkTimeout(timeout);
    currentFiberFor(`join a ${this.constructor.name}`);
    if (this.#members.size === 0) return true;
    const joiner: Joiner = { waiter: new Waiter<void>(), raiseError: options.raiseError === true };
    this.#joiners.push(joiner);
    try {
      return parkOn(joiner.waiter, `${this.constructor.name}.join()`, ms);
    } finally {
      removeFrom(this.#joiners, joiner);
    }
  }

  /**
   * Kills every member (with FiberExit unless `error` is given). With `block`
   * (the default, in a fiber) waits until they are dead, at most `timeout` ms.
   */
  kill(error: unknown = new FiberExit(), options: { block?: boolean; timeout?: number } = {}): void {
    killAll(this.greenlets, error, options);
  }

  /**
   * `fn(item)` for every item, each in its own member greenlet; returns the
   * results in input order. Throws the first failure in input order, after
   * killing the tasks still running.
   */
  map<T, R>(fn: (item: T) => R, iterable: Iterable<T>): R[] {
    currentFiberFor(`map over a ${this.constructor.name}`);
    return [...this.#mapped(fn, iterable, true)];
  }

  /** Like map(), as a generator: yields results in input order as they become available. */
  imap<T, R>(fn: (item: T) => R, iterable: Iterable<T>): Generator<R, void, undefined> {
    checkFunction(fn);
    return this.#mapped(fn, iterable, true);
  }

  /** Like imap(), but yields each result as soon as its task finishes. */
  imapUnordered<T, R>(fn: (item: T) => R, iterable: Iterable<T>): Generator<R, void, undefined> {
    checkFunction(fn);
    return this.#mapped(fn, iterable, false);
  }

  toString(): string {
    return `${this.constructor.name} (${this.#members.size} greenlets)`;
  }

  /** Called after a member left (Pool frees its slot). */
  protected onDiscarded(_g: Greenlet<any>): void {}

  /** Adds `g` without taking a slot (Pool took one already). Returns false if it was a member. */
  protected addMember(g: Greenlet<any>): boolean {
    return this.#addMember(g);
  }

  #addMember(g: Greenlet<any>): boolean {
    if (!(g instanceof Greenlet)) throw invalidArgType('greenlet', 'a Greenlet', g);
    if (this.#members.has(g)) return false;
    this.#members.add(g);
    g.rawlink(this.#onFinished);
    return true;
  }

  /**
   * A feeder greenlet spawns the tasks (in a Pool it is the one that waits for
   * slots, so the consumer keeps receiving results meanwhile); each finished
   * task is reported to the consumer through a queue.
   */
  *#mapped<T, R>(fn: (item: T) => R, iterable: Iterable<T>, ordered: boolean): Generator<R, void, undefined> {
    checkFunction(fn);
    currentFiberFor(`iterate ${ordered ? 'imap()' : 'imapUnordered()'} of a ${this.constructor.name}`);
    const inbox = new Queue<MapMessage<R>>();
    const tasks = new Set<Greenlet<any>>();
    const feeder = spawn(() => {
      let index = 0;
      try {
        for (const item of iterable) {
          const i = index++;
          const task = this.spawn(fn, item);
          tasks.add(task);
          task.link((g) => inbox.put({ kind: 'done', index: i, greenlet: g }));
        }
        inbox.put({ kind: 'end', count: index });
      } catch (error) {
        if (FiberExit.is(error)) throw error;
        inbox.put({ kind: 'error', error });
      }
    });
    const early = new Map<number, Greenlet<R>>();
    let total = Infinity;
    let next = 0;
    try {
      while (next < total) {
        const ready = early.get(next);
        if (ready !== undefined) {
          early.delete(next++);
          yield outcome(ready);
          continue;
        }
        const message = inbox.get();
        if (message.kind === 'end') total = message.count;
        else if (message.kind === 'error') throw message.error;
        else if (ordered) early.set(message.index, message.greenlet);
        else {
          next++;
          yield outcome(message.greenlet);
        }
      }
    } finally {
      // Left early (a failure, break, return): stop feeding, then stop what runs.
      // The feeder dies first so that no task starts after the snapshot below.
      const block = Fiber.current !== Fiber.root;
      feeder.kill(new FiberExit(), { block });
      killAll([...tasks].filter((g) => !g.dead), new FiberExit(), { block });
    }
  }
}

export class Pool extends Group {
  /** The most greenlets it holds at once. */
  readonly limit: number;
  #slots: Semaphore;
  /** Members that hold a slot. */
  #holding = new Set<Greenlet<any>>();

  constructor(size: number) {
    if (typeof size !== 'number' || !Number.isInteger(size)) throw invalidArgType('size', 'a positive integer', size);
    if (size < 1) throw outOfRange('size', 'a positive integer (use a Group for no limit)', size);
    super();
    this.limit = size;
    this.#slots = new Semaphore(size);
  }

  override full(): boolean {
    return this.#slots.counter === 0;
  }

  /** Slots neither held by a member nor promised to a waiting spawn(). */
  override freeCount(): number {
    return this.#slots.counter;
  }

  /** Waits (FIFO) for a free slot, then starts `fn(...args)` in a member greenlet. */
  override spawn<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Greenlet<R> {
    checkFunction(fn);
    this.#takeSlot('spawn into', {});
    const g = new Greenlet<R>(fn, args);
    this.#hold(g);
    g.start();
    return g;
  }

  /**
   * Makes `g` a member, waiting (FIFO) at most `timeout` ms for a slot: throws
   * TimeoutError when the timeout expires, SyncError ERR_POOL_FULL with
   * `block: false` when no slot is free.
   */
  override add(g: Greenlet<any>, options: BlockOptions = {}): void {
    if (!(g instanceof Greenlet)) throw invalidArgType('greenlet', 'a Greenlet', g);
    if (this.has(g)) return;
    this.#takeSlot('add a greenlet to', options);
    this.#hold(g);
  }

  /** Waits until a slot is free, at most `timeout` ms, without taking it; returns the free count. */
  waitAvailable(timeout?: number): number {
    return this.#slots.wait(timeout);
  }

  protected override onDiscarded(g: Greenlet<any>): void {
    if (this.#holding.delete(g)) this.#slots.release();
  }

  #takeSlot(verb: string, options: BlockOptions): void {
    const { block, timeout } = checkOptions(options);
    if (block) currentFiberFor(`${verb} a ${this.constructor.name}`);
    if (this.#slots.acquire({ block, timeout })) return;
    if (!block) throw new SyncError('ERR_POOL_FULL', `cannot ${verb} ${this}: all ${this.limit} slots are taken and \`block\` is false; wait for a slot (the default), or use a larger pool`);
    throw new TimeoutError(timeout!);
  }

  /** Makes `g` a member holding the slot just taken. */
  #hold(g: Greenlet<any>): void {
    // It may have become a member while this fiber waited for the slot.
    if (!this.addMember(g)) {
      this.#slots.release();
      return;
    }
    this.#holding.add(g);
  }
}

function checkFunction(fn: unknown): void {
  if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn);
}

function outcome<R>(g: Greenlet<R>): R {
  if (!g.successful()) throw g.exception;
  return g.value as R;
}
