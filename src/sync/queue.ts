/**
 * Queue, JoinableQueue and Channel: items passed between fibers.
 *
 * One mechanism under all three: a buffer of `capacity` items (Infinity,
 * a bound, or 0 for a Channel), the fibers waiting to get (only while the
 * buffer is empty) and the fibers waiting to put (only while it is full),
 * each list oldest first. An item goes straight to the longest-waiting getter;
 * a slot freed by a get goes straight to the longest-waiting putter, whose
 * item enters the buffer at once. So no fiber that arrives later can overtake
 * one that waits, and a producer at a full bound waits until a consumer has
 * taken something.
 */
import { invalidArgType, outOfRange, QueueEmpty, QueueFull, SyncError } from '../core/errors.js';
import { Fiber } from '../core/fiber.js';
import { currentFiberFor, parkOn, Waiter } from '../hub/hub.js';
import { checkOptions, checkTimeout, Line, parkInLine, type BlockOptions } from '../hub/park.js';

const NOTHING: unique symbol = Symbol('nothing');

interface Putter<T> {
  item: T;
  waiter: Waiter<void>;
}

/** The shared mechanism; use Queue, JoinableQueue or Channel. */
abstract class QueueCore<T> {
  readonly #capacity: number;
  /** The buffer, a deque: items[head] is the oldest. */
  #items: T[] = [];
  #head = 0;
  #tail = 0; // items[head..tail) are buffered; the array keeps its storage when it empties
  /** Each is woken holding its item. */
  #getters = new Line<Waiter<T>>();
  /** Each is woken once its item has entered the buffer (or gone to a getter). */
  #putters = new Line<Putter<T>>();
  /** What a fiber parked in get() or put() waits in, for the "blocked forever" report (built once). */
  #getWhat: string | undefined;
  #putWhat: string | undefined;
  /** Fibers in peek(), woken whenever an item enters the buffer. */
  #peekers: Array<Waiter<void>> = [];

  protected constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Items in the buffer. */
  qsize(): number {
    return this.#tail - this.#head;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  /** No room in the buffer: put() would wait. */
  full(): boolean {
    return this.qsize() >= this.#capacity;
  }

  /** Fibers waiting in get(). */
  get waitingGetters(): number {
    return this.#getters.length;
  }

  /** Fibers waiting in put(). */
  get waitingPutters(): number {
    return this.#putters.length;
  }

  /**
   * Adds `item`, waiting at most `timeout` ms for room; throws QueueFull
   * (ERR_QUEUE_FULL) when the timeout expires or, with `block: false`, when
   * there is no room. A put into an unbounded Queue never waits, so it may be
   * called on the root fiber too.
   *
   * An exception raised in the putter (kill(), an outer Timeout) after its
   * item was accepted does not take the item back: it stays queued.
   */
  put(item: T, options?: BlockOptions): void {
    const { block, timeout } = checkOptions(options);
    // Checked whenever the call could wait, not only when it would: code that
    // works only because the queue happened to have room fails at once.
    if (block && this.#capacity !== Infinity && Fiber.current === Fiber.root) currentFiberFor('put into a', this.constructor.name);
    if (this.#offer(item)) return;
    if (!block) throw new QueueFull(`cannot put into ${this}: it is full and \`block\` is false; wait with put(), or use a larger maxsize`);
    const putter: Putter<T> = { item, waiter: new Waiter<void>() };
    this.#putters.push(putter);
    let accepted = false;
    try {
      accepted = parkOn(putter.waiter, (this.#putWhat ??= `${this.constructor.name}.put()`), timeout);
    } finally {
      // A putter that was woken has been taken off the line already.
      if (!putter.waiter.settled) this.#putters.remove(putter);
    }
    if (!accepted) throw new QueueFull(`cannot put into ${this}: it stayed full for ${timeout} ms`);
  }

  /**
   * Removes and returns the oldest item, waiting at most `timeout` ms for one;
   * throws QueueEmpty (ERR_QUEUE_EMPTY) when the timeout expires or, with
   * `block: false`, when there is none.
   *
   * A getter that was handed an item and then leaves by an exception (kill(),
   * an outer Timeout) before it resumed gives the item back: it goes to the
   * next getter, or to the front of the buffer.
   */
  get(options?: BlockOptions): T {
    const { block, timeout } = checkOptions(options);
    if (block && Fiber.current === Fiber.root) currentFiberFor('get from a', this.constructor.name);
    const item = this.#take();
    if (item !== NOTHING) return item;
    if (!block) throw new QueueEmpty(`cannot get from ${this}: it is empty and \`block\` is false; wait with get(), or check empty() first`);
    const waiter = new Waiter<T>();
    this.#getters.push(waiter);
    let got = false;
    try {
      got = parkOn(waiter, (this.#getWhat ??= `${this.constructor.name}.get()`), timeout);
      if (got) return waiter.wait();
    } finally {
      // A getter that was woken has been taken off the line already.
      if (!waiter.settled) this.#getters.remove(waiter);
      if (waiter.settled && !got) this.#giveBack(waiter.wait());
    }
    throw new QueueEmpty(`cannot get from ${this}: it stayed empty for ${timeout} ms`);
  }

  /** put() with `block: false`: throws QueueFull at once when there is no room. */
  putNowait(item: T): void {
    this.put(item, { block: false });
  }

  /** get() with `block: false`: throws QueueEmpty at once when there is no item. */
  getNowait(): T {
    return this.get({ block: false });
  }

  toString(): string {
    const bound = this.#capacity === Infinity ? '' : ` of ${this.#capacity}`;
    return `${this.constructor.name} (${this.qsize()}${bound} items, ${this.#getters.length} getters, ${this.#putters.length} putters waiting)`;
  }

  /** Called when an item is accepted, before anyone is woken (JoinableQueue counts it). */
  protected onAccepted(): void {}

  /** The oldest item in the buffer, or NOTHING. */
  protected front(): T | typeof NOTHING {
    return this.qsize() > 0 ? this.#items[this.#head]! : NOTHING;
  }

  /** Parks in peek() until an item enters the buffer; false on timeout. */
  protected waitForItem(what: string, timeout: number | undefined): boolean {
    return parkInLine(this.#peekers, what, timeout);
  }

  /** Hands `item` to the oldest getter, or buffers it if there is room. */
  #offer(item: T): boolean {
    const getter = this.#getters.shift();
    if (getter !== undefined) {
      this.onAccepted();
      getter.wake(item);
      return true;
    }
    if (this.qsize() >= this.#capacity) return false;
    this.onAccepted();
    this.#push(item);
    return true;
  }

  /** The oldest item (refilling the buffer from waiting putters), or NOTHING. */
  #take(): T | typeof NOTHING {
    if (this.qsize() > 0) {
      const item = this.#shift();
      // A slot is free: the oldest putter's item takes it now, before anyone else's.
      while (this.#putters.length > 0 && this.qsize() < this.#capacity) {
        const putter = this.#putters.shift()!;
        this.onAccepted();
        this.#push(putter.item);
        putter.waiter.wake();
      }
      return item;
    }
    // Nothing buffered: a putter may still wait (always so for a Channel).
    const putter = this.#putters.shift();
    if (putter === undefined) return NOTHING;
    this.onAccepted();
    putter.waiter.wake();
    return putter.item;
  }

  /** An item a getter was handed but could not keep: to the next getter, else to the front. */
  #giveBack(item: T): void {
    const getter = this.#getters.shift();
    if (getter !== undefined) {
      getter.wake(item);
      return;
    }
    if (this.#head > 0) this.#items[--this.#head] = item;
    else {
      this.#items.splice(0, 0, item);
      this.#tail++;
    }
    this.#wakePeekers();
  }

  #push(item: T): void {
    this.#items[this.#tail++] = item;
    this.#wakePeekers();
  }

  #shift(): T {
    const item = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as T; // let it be collected
    this.#head++;
    if (this.#head === this.#tail) {
      this.#head = this.#tail = 0;
      if (this.#items.length > 4096) this.#items = []; // a burst is over: do not keep its storage
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#tail) {
      this.#items = this.#items.slice(this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#head = 0;
    }
    return item;
  }

  #wakePeekers(): void {
    if (this.#peekers.length === 0) return;
    const peekers = this.#peekers;
    this.#peekers = [];
    for (const peeker of [...peekers]) peeker.wake(); // a copy: see wakeAll() in event.ts
  }
}

/** A FIFO queue, unbounded or holding at most `maxsize` items. */
export class Queue<T = unknown> extends QueueCore<T> {
  readonly maxsize: number;

  /** `maxsize`: a positive integer, or undefined / Infinity for no bound. */
  constructor(maxsize?: number) {
    const bound = maxsize ?? Infinity;
    if (typeof bound !== 'number' || !(Number.isInteger(bound) || bound === Infinity)) {
      throw invalidArgType('maxsize', 'a positive integer, Infinity or undefined', maxsize);
    }
    if (bound < 1) throw outOfRange('maxsize', 'a positive integer (use Channel for a queue without a buffer)', maxsize);
    super(bound);
    this.maxsize = bound;
  }

  /**
   * The oldest item without removing it, waiting at most `timeout` ms for one;
   * throws QueueEmpty like get(). Getters already waiting are served first.
   */
  peek(options: BlockOptions = {}): T {
    const { block, timeout } = checkOptions(options);
    if (block) currentFiberFor('peek into a', this.constructor.name);
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    for (;;) {
      const item = this.front();
      if (item !== NOTHING) return item;
      const left = deadline - Date.now();
      if (!block || left <= 0 || !this.waitForItem(`${this.constructor.name}.peek()`, left === Infinity ? undefined : left)) {
        throw new QueueEmpty(`cannot peek into ${this}: it is empty${block ? ` and stayed so for ${timeout} ms` : ' and `block` is false'}`);
      }
    }
  }

  /** peek() with `block: false`. */
  peekNowait(): T {
    return this.peek({ block: false });
  }
}

/** A Queue that counts unfinished items: join() waits until taskDone() was called for each. */
export class JoinableQueue<T = unknown> extends Queue<T> {
  #unfinished = 0;
  #joiners: Array<Waiter<void>> = [];

  /** Items put and not yet marked done. */
  get unfinishedTasks(): number {
    return this.#unfinished;
  }

  /** Marks one item taken by get() as processed. */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new SyncError('ERR_QUEUE_TASK_DONE_TOO_OFTEN', `cannot call taskDone() on ${this}: every item put has already been marked done; call it once per item taken`);
    }
    if (--this.#unfinished > 0) return;
    const joiners = this.#joiners;
    this.#joiners = [];
    for (const joiner of [...joiners]) joiner.wake(); // a copy: see wakeAll() in event.ts
  }

  /** Waits until every item put so far is done, at most `timeout` ms; returns whether they are. */
  join(timeout?: number): boolean {
    const ms = checkTimeout(timeout);
    currentFiberFor('join a', this.constructor.name);
    if (this.#unfinished === 0) return true;
    return parkInLine(this.#joiners, `${this.constructor.name}.join()`, ms);
  }

  protected override onAccepted(): void {
    this.#unfinished++;
  }
}

/**
 * A queue without a buffer: put() waits until a getter takes the item (a
 * rendezvous), get() until a putter offers one.
 */
export class Channel<T = unknown> extends QueueCore<T> {
  constructor() {
    super(0);
  }

  /** Waiting putters minus waiting getters: > 0 means items are on offer. */
  get balance(): number {
    return this.waitingPutters - this.waitingGetters;
  }
}
