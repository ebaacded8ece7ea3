/**
 * Every error class stackful throws. Each says whether it is a usage error
 * (the caller can fix it) or a bug in this library.
 */

/** The shape of every error with a stable `code`: the code shows in the stack's first line, as in Node's own errors. */
abstract class CodedError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    Object.defineProperty(this, 'name', { value: `${new.target.prototype.name} [${code}]`, configurable: true });
    void this.stack; // formats the stack now, with the code in it
    delete (this as { name?: string }).name;
  }
}

function named(cls: abstract new (...args: never[]) => Error, name: string): void {
  Object.defineProperty(cls.prototype, 'name', { value: name, configurable: true, writable: true });
}

/** Usage error: a fiber was used in a way its state does not allow. Always has a stable `code`. */
export class FiberError extends CodedError {}
named(FiberError, 'FiberError');

/**
 * Not an error: thrown into a fiber by `kill()` (and by `throw()` without an
 * argument) to make it unwind. A fiber that finishes by FiberExit has finished
 * cleanly, and its parent receives `value`.
 */
export class FiberExit extends Error {
  readonly value: unknown;
  #brand = true;

  constructor(value?: unknown) {
    super('fiber exit');
    this.value = value;
  }

  /**
   * Whether `value` was made by FiberExit's constructor (or a subclass's).
   * Unlike `instanceof`, it runs no user code: no Symbol.hasInstance, no
   * Proxy trap, no prototype getter.
   */
  static is(value: unknown): value is FiberExit {
    return typeof value === 'object' && value !== null && #brand in value;
  }
}
Object.defineProperty(FiberExit.prototype, 'name', { value: 'FiberExit', configurable: true, writable: true });

/** Usage error: this Node version, OS or CPU is not one stackful supports (code ERR_STACKFUL_UNSUPPORTED). */
export class UnsupportedRuntimeError extends Error {
  readonly code = 'ERR_STACKFUL_UNSUPPORTED';

  constructor(message: string) {
    super(message);
  }
}
Object.defineProperty(UnsupportedRuntimeError.prototype, 'name', {
  value: 'UnsupportedRuntimeError',
  configurable: true,
  writable: true,
});

/**
 * Usage error (of the install, not of the code): this package holds no native
 * binary that this Node can load. `code` is ERR_STACKFUL_NO_BINARY when none
 * was found for this Node's ABI (install scripts skipped: --ignore-scripts,
 * pnpm's or npm's build approval), ERR_STACKFUL_BINARY_LOAD when one was found
 * and failed to load (built for another Node, a damaged file); `cause` is the
 * loader's own error. The message names the Node version, its ABI, the
 * platform, what was looked for where, and how to build the binary with npm,
 * pnpm and yarn.
 */
export class NativeBinaryError extends CodedError {
  constructor(code: 'ERR_STACKFUL_NO_BINARY' | 'ERR_STACKFUL_BINARY_LOAD', message: string, options?: { cause?: unknown }) {
    super(code, message);
    if (options && 'cause' in options) Object.defineProperty(this, 'cause', { value: options.cause, configurable: true, writable: true });
  }
}
named(NativeBinaryError, 'NativeBinaryError');

/** Argument errors, shaped like Node's own (code ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE). */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const err = new TypeError(`expected \`${name}\` to be ${expected}, got ${describe(actual)}`);
  (err as TypeError & { code: string }).code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

export function outOfRange(name: string, expected: string, actual: unknown): RangeError {
  const err = new RangeError(`expected \`${name}\` to be ${expected}, got ${describe(actual)}`);
  (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
  return err;
}

function describe(value: unknown): string {
  if (value === null) return '`null`';
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return `\`${shown}\` (${typeof value})`;
}

/** Usage error: a synchronization primitive (lock, semaphore, pool, result) was used in a way its state does not allow. Always has a stable `code`. */
export class SyncError extends CodedError {}
named(SyncError, 'SyncError');

/** Usage error, and an expected one: a put that would not wait (or whose timeout expired) found the queue full (code ERR_QUEUE_FULL). */
export class QueueFull extends Error {
  readonly code = 'ERR_QUEUE_FULL';

  constructor(message: string) {
    super(message);
  }
}
Object.defineProperty(QueueFull.prototype, 'name', { value: 'QueueFull', configurable: true, writable: true });

/** Usage error, and an expected one: a get that would not wait (or whose timeout expired) found the queue empty (code ERR_QUEUE_EMPTY). */
export class QueueEmpty extends Error {
  readonly code = 'ERR_QUEUE_EMPTY';

  constructor(message: string) {
    super(message);
  }
}
Object.defineProperty(QueueEmpty.prototype, 'name', { value: 'QueueEmpty', configurable: true, writable: true });

/**
 * Usage errors of the node-fibers drop-in (stackful/fibers, stackful/future).
 * They keep node-fibers' own class (Error, TypeError or RangeError) and its
 * message word for word, because code written for node-fibers compares them
 * (`err.message === 'This Fiber is a zombie'`); what they add is a stable
 * `code`. The zombie error that reset() throws into a fiber is not a bug
 * either: it unwinds the fiber (see src/compat/fibers.ts).
 */
export function fibersError(kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, code: string, message: string): Error & { code: string } {
  const err = new kind(message) as Error & { code: string };
  err.code = code;
  return err;
}

/** Usage error: a server of stackful/server was used in a way its state does not allow (closed twice, serve() in a cluster worker's primary...). Always has a stable `code`. */
export class ServerError extends CodedError {}
named(ServerError, 'ServerError');

/**
 * Not a bug, and not the handler's: the client sent a request body the server
 * will not take (larger than the limit, not JSON, cut off). `status` is the
 * HTTP status to answer with: a handler that lets it propagate gets that
 * answer sent (413, 400, ...) and it is not reported as a failure. Always has
 * a stable `code` (ERR_BODY_TOO_LARGE, ERR_BODY_INVALID_JSON, ...).
 */
export class RequestError extends CodedError {
  /** The HTTP status this error calls for (413, 400, ...). */
  readonly status: number;

  constructor(code: string, status: number, message: string) {
    super(code, message);
    this.status = status;
  }

  /** The same as `status`, for code that reads `statusCode` (http-errors does both). */
  get statusCode(): number {
    return this.status;
  }
}
named(RequestError, 'RequestError');
