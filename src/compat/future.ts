/**
 * stackful/future: node-fibers' `fibers/future` module on stackful/fibers.
 *
 * A Future is a value that is not there yet. Inside a fiber, `wait()` parks
 * the fiber (Fiber.yield) until the future is resolved; the callback that
 * resolves it resumes the fiber (fiber.run). Outside fibers, `resolve(cb)` and
 * `promise()` read it. `fn.future()` makes `fn` return a Future and run in a
 * fiber of its own (started on the next tick, or at once, in the waiting
 * fiber, when a Future.wait() reaches it first).
 *
 * Public fields have node-fibers' names and meaning, since code written for
 * it reads them: `resolved`, `value`, `error`, `_` (what a Future.wrap()ped
 * function returned), and, on futures of `fn.future()`, `fn`, `context`,
 * `args` and `started`.
 */
import Fiber = require('./fibers.js');
import { fibersError } from '../core/errors.js';

type NodeCallback = (err: any, value?: any) => void;
/** [callback(err, value)] or [future to throw into, callback(value)]. */
type Listener = [NodeCallback, undefined] | [Future, (value: any) => void];

interface Future<T = any> {
  resolved?: boolean;
  value?: T;
  error?: any;
  /** What the wrapped function returned, for a future made by Future.wrap(). */
  _?: any;
  callbacks?: Listener[];
  /** The value, or throws the error (its stack joined to the caller's); throws if not resolved yet. */
  get(): T;
  /** Parks the running fiber until resolved, then get(). */
  wait(): T;
  return(value?: T): void;
  throw(error: any): void;
  /** A node-style callback `(err, value)` that resolves this future. */
  resolver(): NodeCallback;
  /** Calls `cb(err, value)` once resolved; or, with two arguments, throws into `future` on error and calls `cb(value)` on success. */
  resolve(cb: NodeCallback): this;
  resolve(future: Future, cb: (value: T) => void): this;
  resolveSuccess(cb: (value: T) => void): this;
  /** Resolves `future` the same way when this one resolves. */
  proxy(future: Future<T>): void;
  /** Throws this future's error into `futures` (one or an array) if it fails. */
  proxyErrors(futures: Future | Future[]): this;
  /** An error of this future goes to the event loop as an uncaught exception. */
  detach(): void;
  isResolved(): boolean;
  promise(): Promise<T>;
}

interface FutureConstructor {
  new <T = any>(): Future<T>;
  readonly prototype: Future;
  /** Runs each function in a fiber of its own: one function gives its future; several give a future of the array of their values. */
  task<T>(fn: () => T): Future<T>;
  task(...fns: Array<() => any>): Future<any[]>;
  /**
   * Makes a node-style async function (callback last) return a Future; given
   * an object, returns an object that inherits from it with a
   * `<name><suffix>` (default `<name>Future`) version of each method.
   * `multi`: the callback gets several values after `err`, which the future
   * gets as an array.
   */
  wrap<F extends (...args: any[]) => any>(fn: F, multi?: boolean, suffix?: string): (...args: any[]) => Future;
  wrap<O extends object>(object: O, multi?: boolean, suffix?: string): O & Record<string, (...args: any[]) => Future>;
  /** Parks the running fiber until every future given (alone or in arrays) is resolved; does not throw their errors. */
  wait(...futures: Array<Future | Future[]>): void;
  fromPromise<T>(promise: PromiseLike<T>): Future<T>;
}

declare global {
  interface Function {
    /** stackful/future: a function that runs this one in a fiber of its own and returns a Future of its result. */
    future(detach?: boolean): (...args: any[]) => Future;
  }
}

/** Future is a plain function (not a class) so that code which subclasses it the old way (`Future.call(this)`, util.inherits) keeps working. */
const Future = function Future(this: Future) {} as unknown as FutureConstructor;

/** The future of a call made by `fn.future()`: the call runs in a fiber of its own. */
interface FiberFuture extends Future {
  fn: (...args: any[]) => any;
  context: unknown;
  args: ArrayLike<unknown>;
  started: boolean;
}

const FiberFuture = function FiberFuture(this: FiberFuture, fn: (...args: any[]) => any, context: unknown, args: ArrayLike<unknown>) {
  this.fn = fn;
  this.context = context;
  this.args = args;
  this.started = false;
  process.nextTick(() => {
    if (this.started) return; // a Future.wait() ran it already
    this.started = true;
    Fiber(() => settleWith(this)).run();
  });
} as unknown as { new (fn: (...args: any[]) => any, context: unknown, args: ArrayLike<unknown>): FiberFuture; prototype: FiberFuture };

/** Runs a FiberFuture's call in the current fiber and resolves it with the outcome. */
function settleWith(future: FiberFuture): void {
  let value: unknown;
  try {
    value = future.fn.apply(future.context, future.args as unknown[]);
  } catch (err) {
    future.throw(err);
    return;
  }
  future.return(value);
}

/** A listener that throws must not stop the others, nor the code that resolved the future: it goes to the event loop. */
function callListener(call: () => void): void {
  try {
    call();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

function settle(future: Future, failed: boolean, outcome: unknown): void {
  if (future.resolved) throw fibersError(Error, 'ERR_FUTURE_RESOLVED', 'Future resolved more than once');
  if (failed) {
    if (!outcome) throw fibersError(Error, 'ERR_FUTURE_EMPTY_ERROR', 'Must throw non-empty error');
    future.error = outcome;
  } else {
    future.value = outcome;
  }
  future.resolved = true;
  const listeners = future.callbacks;
  if (listeners === undefined) return;
  delete future.callbacks;
  for (const [first, onValue] of listeners) {
    if (onValue === undefined) callListener(() => (first as NodeCallback)(failed ? outcome : undefined, failed ? undefined : outcome));
    else if (failed) callListener(() => (first as Future).throw(outcome));
    else callListener(() => onValue(outcome));
  }
}

/**
 * An error that crossed a wait(): its `stack` shows where it was read (the
 * waiting fiber), a `    - - - - -` line, then where it was thrown, as
 * node-fibers does. The stack it was thrown with stays in `futureStack`.
 */
function joinStacks(error: object, readAt: { stack?: string }): void {
  let thrownAt = Object.getOwnPropertyDescriptor(error, 'futureStack');
  if (thrownAt === undefined) {
    thrownAt = Object.getOwnPropertyDescriptor(error, 'stack');
    if (thrownAt === undefined || !thrownAt.configurable) return;
    Object.defineProperty(error, 'futureStack', { ...thrownAt, enumerable: false });
  }
  const original = thrownAt;
  const readOriginal = (): unknown => (original.get !== undefined ? original.get.call(error) : original.value);
  Object.defineProperty(error, 'stack', {
    get() {
      const thrown = readOriginal();
      const here = (readAt.stack ?? '').split('\n').slice(1);
      if (typeof thrown !== 'string' || thrown === '') return readAt.stack;
      const lines = thrown.split('\n');
      return [lines[0], ...here, '    - - - - -', ...lines.slice(1)].join('\n');
    },
    set(stack: unknown) {
      Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
    },
    configurable: true,
    enumerable: false,
  });
}

function isFuture(value: unknown): value is Future {
  return value instanceof Future;
}

function describeNotFuture(value: unknown): Error {
  return fibersError(Error, 'ERR_INVALID_ARG_TYPE', `${String(value)} is not a future`);
}

const methods: ThisType<Future> & Omit<Future, 'resolved' | 'value' | 'error' | '_' | 'callbacks'> = {
  get() {
    if (!this.resolved) throw fibersError(Error, 'ERR_FUTURE_PENDING', 'Future must resolve before value is ready');
    if (!this.error) return this.value;
    const error = this.error;
    if (typeof error === 'object' || typeof error === 'function') {
      const readAt: { stack?: string } = {};
      Error.captureStackTrace(readAt, methods.get);
      joinStacks(error, readAt);
    }
    throw error;
  },

  wait() {
    if (!this.isResolved()) Future.wait(this);
    return this.get();
  },

  return(value) {
    settle(this, false, value);
  },

  throw(error) {
    settle(this, true, error);
  },

  resolver() {
    return (err: unknown, value?: unknown) => {
      if (err) this.throw(err);
      else this.return(value);
    };
  },

  resolve(first: NodeCallback | Future, onValue?: (value: any) => void) {
    if (!this.resolved) {
      (this.callbacks ??= []).push([first, onValue] as Listener);
      return this;
    }
    if (onValue === undefined) (first as NodeCallback)(this.error, this.value);
    else if (this.error) (first as Future).throw(this.error);
    else onValue(this.value);
    return this;
  },

  resolveSuccess(cb) {
    return this.resolve((err: unknown, value: unknown) => {
      if (!err) cb(value);
    });
  },

  proxy(future) {
    this.resolve((err: unknown, value: unknown) => {
      if (err) future.throw(err);
      else future.return(value);
    });
  },

  proxyErrors(futures) {
    return this.resolve((err: unknown) => {
      if (!err) return;
      for (const future of Array.isArray(futures) ? futures : [futures]) future.throw(err);
    });
  },

  detach() {
    this.resolve((err: unknown) => {
      if (err) throw err;
    });
  },

  isResolved() {
    return this.resolved === true;
  },

  promise() {
    return new Promise((resolve, reject) => {
      this.resolve((err: unknown, value: unknown) => (err ? reject(err) : resolve(value)));
    });
  },
};

for (const name of Object.keys(methods) as Array<keyof typeof methods>) {
  Object.defineProperty(Future.prototype, name, { value: methods[name], writable: true, configurable: true, enumerable: false });
}
Object.setPrototypeOf(FiberFuture.prototype, Future.prototype);
Object.defineProperty(FiberFuture.prototype, 'constructor', { value: FiberFuture, writable: true, configurable: true });

Object.defineProperty(Function.prototype, 'future', {
  value: function future(this: (...args: any[]) => any, detach?: boolean) {
    const fn = this;
    const call = function (this: unknown, ...args: unknown[]): Future {
      const result = new FiberFuture(fn, this, args);
      if (detach) result.detach();
      return result;
    };
    call.toString = () => `<<Future ${String(fn)}.future()>>`;
    return call;
  },
  writable: true,
  configurable: true,
  enumerable: false,
});

Future.task = function task(...fns: Array<() => unknown>): Future {
  for (const fn of fns) {
    if (typeof fn !== 'function') throw fibersError(TypeError, 'ERR_INVALID_ARG_TYPE', `Future.task() expects functions, got ${String(fn)}`);
  }
  if (fns.length === 1) return fns[0]!.future()();
  const all = new Future();
  const values: unknown[] = new Array(fns.length);
  let pending = fns.length;
  let failure: unknown;
  fns.forEach((fn, i) => {
    fn.future()().resolve((err: unknown, value: unknown) => {
      if (err) failure = err;
      values[i] = value;
      if (--pending > 0) return;
      if (failure) all.throw(failure);
      else all.return(values);
    });
  });
  return all;
} as FutureConstructor['task'];

function wrapFunction(fn: (...args: any[]) => any, multi: boolean | undefined, suffix: string | undefined, nested: boolean): (...args: any[]) => Future {
  const wrapped = function (this: unknown, ...args: unknown[]): Future {
    const future = new Future();
    const done = future.resolver();
    args.push(multi ? (err: unknown, ...values: unknown[]) => done(err, values) : done);
    future._ = fn.apply(this, args);
    return future;
  };
  if (!nested) {
    // A function with methods of its own (the `request` module): the wrapper
    // inherits them, and their <name>Future versions, from an object that
    // inherits from `fn`.
    const props = Object.create(fn) as Record<string, unknown>;
    for (const key in fn) {
      if (Object.prototype.hasOwnProperty.call(fn, key) && typeof (fn as any)[key] === 'function') props[key] = (fn as any)[key];
    }
    Object.setPrototypeOf(wrapped, wrapObject(props, multi, suffix, true));
  }
  return wrapped;
}

function wrapObject(object: object, multi: boolean | undefined, suffix: string | undefined, nested: boolean): object {
  const wrapped = Object.create(object) as Record<string, unknown>;
  for (const key in object) {
    const member = wrapped[key];
    if (typeof member === 'function') wrapped[key + (suffix ?? 'Future')] = wrapFunction(member as (...args: any[]) => any, multi, suffix, nested);
  }
  return wrapped;
}

Future.wrap = function wrap(target: unknown, multi?: boolean, suffix?: string): any {
  if (typeof target === 'function') return wrapFunction(target as (...args: any[]) => any, multi, suffix, false);
  if (target !== null && typeof target === 'object') return wrapObject(target, multi, suffix, false);
  throw fibersError(TypeError, 'ERR_INVALID_ARG_TYPE', `Future.wrap() expects a function or an object, got ${String(target)}`);
} as FutureConstructor['wrap'];

Future.wait = function wait(...args: Array<Future | Future[]>): void {
  // Pending futures; the first fn.future() call that has not started yet runs
  // here, in this fiber, instead of in a fiber of its own.
  const pending: Future[] = [];
  let inline: FiberFuture | undefined;
  const take = (future: unknown): void => {
    if (!isFuture(future)) throw describeNotFuture(future);
    if (future.isResolved()) return;
    if (inline === undefined && future instanceof FiberFuture && !future.started) inline = future;
    else pending.push(future);
  };
  for (const arg of args) {
    if (Array.isArray(arg)) arg.forEach(take);
    else take(arg);
  }
  const fiber = Fiber.current;
  if (fiber === undefined) throw fibersError(Error, 'ERR_NOT_IN_FIBER', "Can't wait without a fiber");
  let left = pending.length + (inline === undefined ? 0 : 1);
  const oneDone = (): void => {
    if (--left === 0) fiber.run();
  };
  for (const future of pending) future.resolve(oneDone);
  if (inline !== undefined) {
    inline.started = true;
    settleWith(inline);
    left--;
  }
  if (left > 0) Fiber.yield();
};

Future.fromPromise = function fromPromise<T>(promise: PromiseLike<T>): Future<T> {
  if (promise === null || (typeof promise !== 'object' && typeof promise !== 'function') || typeof promise.then !== 'function') {
    throw fibersError(TypeError, 'ERR_INVALID_ARG_TYPE', `Future.fromPromise() expects a promise, got ${String(promise)}`);
  }
  const future = new Future<T>();
  promise.then(
    (value) => future.return(value),
    (reason) => {
      // A future cannot hold a falsy error: keep the reason on an Error that says what happened.
      if (reason) future.throw(reason);
      else future.throw(Object.assign(fibersError(Error, 'ERR_FUTURE_FALSY_REJECTION', `the promise was rejected with ${String(reason)}; a Future needs an error that is truthy`), { reason }));
    },
  );
  return future;
};

export = Future;
