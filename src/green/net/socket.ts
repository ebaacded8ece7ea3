// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * The green Socket and connect() of stackful/net (see index.ts, the entry,
 * for how reading, writing and errors work). The Server is in server.ts.
 */
import * as net from 'node:net';
import { Fiber } from '../../core/fiber.js';
import { FiberError, invalidArgType, outOfRange } from '../../core/errors.js';
import { currentFiberFor, parkOn, Waiter } from '../../hub/hub.js';
import { removeFrom } from '../../hub/park.js';
import { checkTimeout } from '../../hub/park.js';
import { TimeoutError } from '../../hub/timeout.js';

/** Default fiber-side read buffer limit; a Node socket hands over chunks of up to 64 KiB. */
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
const DEFAULT_MAX_LINE = 64 * 1024;

/** Key of the connect step, callable only from this module. */
const kConnect: unique symbol = Symbol('connect');

/** Options of Socket#readLine(). */
export interface ReadLineOptions {
  /** Default utf8. */
  encoding?: BufferEncoding;
  /** The longest line accepted, in bytes without its "\n" or "\r\n" (default 64 KiB). */
  maxLength?: number;
}

function checkOptions<T extends object>(options: T): T {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an encoding or an object', options);
  return options;
}

export interface SocketOptions {
  /**
   * Milliseconds: each time a call on this socket waits for the network, it
   * waits at most this long, then throws TimeoutError (code ERR_FIBER_TIMEOUT).
   * Default: no limit.
   */
  timeout?: number;
  /**
   * Bytes received and not yet read by a fiber above which the Node socket
   * is paused (default 64 KiB). A read that needs more (read(n) with a larger
   * n, a longer line, readAll()) lets the buffer grow to what it needs.
   */
  highWaterMark?: number;
}

type WithoutNodeTimeout<T> = Omit<T, 'timeout' | 'onread'>;

/** Node's net.connect() options, with `timeout` and `highWaterMark` meaning what they mean here. */
export type ConnectOptions = (WithoutNodeTimeout<net.TcpNetConnectOpts> | WithoutNodeTimeout<net.IpcNetConnectOpts>) & SocketOptions;

// --- parking (on the hub's parkOn()) ----------------------------------------

/** A TimeoutError that names what timed out, with the stack of the call that waited. */
export function timedOut(what: string, ms: number, after = 'the socket is still usable: retry, or close() it'): TimeoutError {
  const err = new TimeoutError(ms);
  err.message = `${what} timed out after ${ms} ms; ${after}`;
  Error.captureStackTrace(err, timedOut);
  return err;
}

export function checkHighWaterMark(value: unknown): number {
  if (value === undefined) return DEFAULT_HIGH_WATER_MARK;
  if (typeof value !== 'number') throw invalidArgType('highWaterMark', 'a positive integer (bytes)', value);
  if (!Number.isInteger(value) || value < 1) throw outOfRange('highWaterMark', 'a positive integer (bytes)', value);
  return value;
}

function checkData(data: unknown, name = 'data'): asserts data is string | Uint8Array {
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw invalidArgType(name, 'a string, Buffer or Uint8Array', data);
}

export function hostPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return '?';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

// --- Socket -----------------------------------------------------------------

/**
 * A connected TCP (or IPC) socket whose blocking calls park only the calling
 * fiber. Get one from connect() or Server#accept(), or wrap a connected Node
 * socket with `new Socket(nodeSocket)` (from then on, read it only through
 * this object).
 *
 * One fiber at a time may read (a second concurrent reader gets FiberError
 * ERR_SOCKET_BUSY); any number may write, each write() going out whole and in
 * call order.
 */
export class Socket {
  readonly #sock: net.Socket;
  #timeout: number | undefined;
  readonly #highWaterMark: number;

  // The fiber-side read buffer: chunks in arrival order, #buffered bytes in all.
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Leading bytes of the buffer already searched for "\n" by readLine() (none found). */
  #scanned = 0;
  /** What the current read needs buffered (it may exceed the high-water mark). */
  #want = 0;
  #paused = false;

  #connected: boolean;
  #eof = false;
  #ended = false;
  /** close() was called. */
  #closed = false;
  /** Node's socket closed ('close' event), whoever closed it. */
  #destroyed = false;
  #error: Error | undefined;

  /** The fiber inside a read call (reads are one fiber at a time). */
  #readingFiber: Fiber | undefined;
  /** The parked reader, woken by data, EOF, an error or close. */
  #reader: Waiter<true> | undefined;
  /** Parked writers (drain, finish) and the parked connect, woken by any change. */
  #writers: Array<Waiter<true>> = [];

  #remoteAddress: string | undefined;
  #remotePort: number | undefined;
  #remoteFamily: string | undefined;
  #localAddress: string | undefined;
  #localPort: number | undefined;

  /**
   * Wraps `nodeSocket`, which should be connected (as an accepted socket is)
   * or be about to connect through connect(). Its 'data', 'end', 'error',
   * 'drain', 'finish' and 'close' events are listened to from now on; do not
   * read it, pause it or resume it directly.
   */
  constructor(nodeSocket: net.Socket, options: SocketOptions = {}) {
    if (!(nodeSocket instanceof net.Socket)) throw invalidArgType('nodeSocket', 'a net.Socket', nodeSocket);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    this.#sock = nodeSocket;
    this.#timeout = checkTimeout(options.timeout);
    this.#highWaterMark = checkHighWaterMark(options.highWaterMark);
    this.#connected = !nodeSocket.pending && !nodeSocket.destroyed;
    if (this.#connected) this.#snapshotAddresses();
    nodeSocket.on('data', (chunk: Buffer | string) => this.#onData(chunk));
    nodeSocket.on('end', () => {
      this.#eof = true;
      this.#wakeReader();
    });
    nodeSocket.on('error', (err: Error) => {
      this.#error ??= err;
      this.#wakeAll();
    });
    nodeSocket.on('close', () => {
      this.#destroyed = true;
      this.#wakeAll();
    });
    nodeSocket.on('connect', () => {
      this.#connected = true;
      this.#snapshotAddresses();
      this.#wakeWriters();
    });
    nodeSocket.on('drain', () => this.#wakeWriters());
    nodeSocket.on('finish', () => this.#wakeWriters());
  }

  /** The Node socket underneath (for options such as setNoDelay(); do not read from it). */
  get nodeSocket(): net.Socket {
    return this.#sock;
  }

  get remoteAddress(): string | undefined {
    return this.#remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.#remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.#localAddress;
  }

  get localPort(): number | undefined {
    return this.#localPort;
  }

  /** Bytes received and not yet read by a fiber. */
  get buffered(): number {
    return this.#buffered;
  }

  /** close() was called, or the Node socket has closed. */
  get closed(): boolean {
    return this.#closed || this.#destroyed;
  }

  /** The per-wait timeout in ms, or undefined (no limit). */
  get timeout(): number | undefined {
    return this.#timeout;
  }

  /**
   * Sets the timeout of every later wait (Python's settimeout()): a read
   * that receives nothing, a write that the peer does not drain, an end()
   * that does not flush, for `ms` milliseconds, throws TimeoutError. The
   * socket stays usable after a timeout. `undefined` removes the limit.
   */
  setTimeout(ms: number | undefined): this {
    this.#timeout = checkTimeout(ms, 'ms');
    return this;
  }

  // --- reading ---------------------------------------------------------------

  /**
   * With `n`: exactly `n` bytes, waiting for as many as needed; fewer only
   * when the peer ended first (what was left), null when it had ended and
   * nothing was left. `read(0)` is an empty Buffer.
   *
   * Without `n`: everything buffered, at least one byte (waiting for some if
   * none is), or null at EOF.
   *
   * Data that arrived before an error is returned before the error is thrown.
   */
  read(n?: number): Buffer | null {
    if (n !== undefined) {
      if (typeof n !== 'number') throw invalidArgType('n', 'a number of bytes or undefined', n);
      if (!Number.isSafeInteger(n) || n < 0) throw outOfRange('n', 'an integer >= 0 (bytes)', n);
    }
    this.#beginRead('read from');
    try {
      if (n === 0) return Buffer.alloc(0);
      const want = n ?? 1;
      while (this.#buffered < want && !this.#eof) this.#fill(want, 'read()');
      if (this.#buffered === 0) return null;
      return this.#take(Math.min(n ?? this.#buffered, this.#buffered));
    } finally {
      this.#endRead();
    }
  }

  /**
   * The next line, decoded with `encoding` (default utf8), without its "\n"
   * or "\r\n"; at EOF, the last line if it had no "\n", then null.
   * A line longer than `maxLength` bytes (default 64 KiB, as Python's
   * asyncio streams) throws FiberError ERR_LINE_TOO_LONG once that many have
   * arrived without a newline, so a peer cannot make the buffer grow without
   * bound; what arrived stays buffered for read(), or close() the socket.
   */
  readLine(options: BufferEncoding | ReadLineOptions = 'utf8'): string | null {
    const { encoding = 'utf8', maxLength = DEFAULT_MAX_LINE } = typeof options === 'string' ? { encoding: options } : checkOptions(options);
    if (!Buffer.isEncoding(encoding)) throw invalidArgType('encoding', 'a Buffer encoding', encoding);
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1) {
      throw invalidArgType('maxLength', 'a positive integer (bytes)', maxLength);
    }
    this.#beginRead('read a line from');
    try {
      let newline: number;
      // Up to maxLength bytes, perhaps a "\r", then the "\n".
      while ((newline = this.#indexOfNewline()) < 0 && !this.#eof && this.#buffered <= maxLength + 1) {
        this.#fill(this.#buffered + 1, 'readLine()');
      }
      const length = newline < 0 ? this.#buffered : newline > 0 && this.#peekByte(newline - 1) === 0x0d ? newline - 1 : newline;
      if (length > maxLength) {
        throw new FiberError('ERR_LINE_TOO_LONG', `cannot read a line from ${this}: more than ${maxLength} bytes arrived without a newline; pass a larger maxLength to readLine(), or read() the data`);
      }
      if (newline < 0) return this.#buffered === 0 ? null : this.#take(this.#buffered).toString(encoding);
      return this.#take(newline + 1).toString(encoding, 0, length);
    } finally {
      this.#endRead();
    }
  }

  /** Everything until the peer ends (an empty Buffer if it had already ended). */
  readAll(): Buffer {
    this.#beginRead('read from');
    try {
      while (!this.#eof) this.#fill(Infinity, 'readAll()');
      return this.#buffered === 0 ? Buffer.alloc(0) : this.#take(this.#buffered);
    } finally {
      this.#endRead();
    }
  }

  // --- writing ---------------------------------------------------------------

  /**
   * Hands `data` to Node, whole, and returns; when Node's write buffer is
   * over its high-water mark, parks until the peer has taken enough of it
   * ('drain'). Returning means accepted by Node, not received by the peer:
   * end() waits until everything has been flushed.
   */
  write(data: string | Uint8Array, encoding: BufferEncoding = 'utf8'): void {
    checkData(data);
    currentFiberFor('write to a socket');
    this.#checkWritable('write to');
    if (this.#sock.write(data, encoding)) return;
    while (this.#sock.writableNeedDrain) {
      this.#checkWritable('write to');
      this.#parkWriter('Socket.write()', 'write to');
    }
  }

  /**
   * Writes `data` if given, then ends the sending side (a TCP FIN, Python's
   * shutdown(SHUT_WR)) and parks until everything written has been flushed
   * to the system. The socket can still be read: the peer's reply, then EOF.
   * Calling it again just waits for the flush.
   */
  end(data?: string | Uint8Array, encoding: BufferEncoding = 'utf8'): void {
    if (data !== undefined) checkData(data);
    currentFiberFor('end a socket');
    if (!this.#ended) {
      this.#checkWritable('end');
      this.#ended = true;
      if (data === undefined) this.#sock.end();
      else this.#sock.end(data, encoding);
    } else if (data !== undefined) {
      this.#checkWritable('write to');
    }
    while (!this.#sock.writableFinished) {
      this.#checkAlive('end');
      this.#parkWriter('Socket.end()', 'end');
    }
  }

  /**
   * Closes the socket at once (Node's destroy()): never waits, works on the
   * root fiber too, and may be called again. Fibers waiting on it, and every
   * later call, get FiberError ERR_SOCKET_CLOSED. Data written but still in
   * Node's buffer is dropped: call end() first to flush it and close cleanly.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#scanned = 0;
    this.#sock.destroy();
    this.#wakeAll();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `Socket (${hostPort(this.#localAddress, this.#localPort)} -> ${hostPort(this.#remoteAddress, this.#remotePort)})`;
  }

  /**
   * Connects the wrapped Node socket and parks until it is connected. Called
   * by connect() only; on failure the caller destroys the socket.
   */
  [kConnect](options: net.NetConnectOpts): void {
    this.#sock.connect(options);
    while (!this.#connected) {
      this.#checkAlive('connect');
      const waiter = new Waiter<true>();
      this.#writers.push(waiter);
      let woken;
      try {
        woken = parkOn(waiter, `connect() to ${describeTarget(options)}`, this.#timeout);
      } finally {
        removeFrom(this.#writers, waiter);
      }
      if (!woken && !this.#connected) throw timedOut(`connect() to ${describeTarget(options)}`, this.#timeout!, 'the half-open socket was closed');
    }
  }

  // --- internals -------------------------------------------------------------

  #snapshotAddresses(): void {
    const sock = this.#sock;
    this.#remoteAddress = sock.remoteAddress;
    this.#remotePort = sock.remotePort;
    this.#remoteFamily = sock.remoteFamily;
    this.#localAddress = sock.localAddress;
    this.#localPort = sock.localPort;
  }

  #onData(chunk: Buffer | string): void {
    if (this.#closed) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
    this.#flow();
    this.#wakeReader();
  }

  /**
   * Pauses the Node socket while the buffer holds what the reader needs and
   * at least the high-water mark; resumes it otherwise. At most one more
   * chunk (64 KiB) arrives after a pause: see test/net "keeps the read buffer
   * bounded".
   */
  #flow(): void {
    const limit = Math.max(this.#highWaterMark, this.#want);
    if (this.#buffered >= limit) {
      if (!this.#paused) {
        this.#paused = true;
        this.#sock.pause();
      }
    } else if (this.#paused) {
      this.#paused = false;
      this.#sock.resume();
    }
  }

  #beginRead(verb: string): void {
    const fiber = currentFiberFor(`${verb} a socket`);
    if (this.#readingFiber !== undefined) {
      throw new FiberError(
        'ERR_SOCKET_BUSY',
        `cannot ${verb} ${this}: ${this.#readingFiber} is already reading it; read a socket from one fiber at a time (hand what it reads to others through a Queue)`,
      );
    }
    if (this.#closed) throw this.#closedError(verb);
    this.#readingFiber = fiber;
  }

  #endRead(): void {
    this.#readingFiber = undefined;
    this.#want = 0;
    if (!this.#closed) this.#flow();
  }

  /** Parks the reader until something changes; throws the socket's error, or TimeoutError. */
  #fill(want: number, what: string): void {
    this.#checkAlive('read from');
    this.#want = want;
    this.#flow();
    const waiter = new Waiter<true>();
    this.#reader = waiter;
    let woken;
    try {
      woken = parkOn(waiter, `Socket.${what} on ${this}`, this.#timeout);
    } finally {
      this.#reader = undefined;
    }
    if (!woken) throw timedOut(`${what} on ${this}`, this.#timeout!);
  }

  /** The byte at `index` of the buffer (index < #buffered), without taking it. */
  #peekByte(index: number): number {
    for (const chunk of this.#chunks) {
      if (index < chunk.length) return chunk[index]!;
      index -= chunk.length;
    }
    return -1;
  }

  /** Removes and returns the first `n` bytes of the buffer (n <= #buffered). */
  #take(n: number): Buffer {
    const chunks = this.#chunks;
    const first = chunks[0]!;
    let out: Buffer;
    if (first.length > n) {
      chunks[0] = first.subarray(n);
      out = first.subarray(0, n);
    } else if (first.length === n) {
      chunks.shift();
      out = first;
    } else {
      out = Buffer.allocUnsafe(n);
      let offset = 0;
      let used = 0;
      while (offset < n) {
        const chunk = chunks[used]!;
        const part = Math.min(chunk.length, n - offset);
        chunk.copy(out, offset, 0, part);
        offset += part;
        if (part === chunk.length) used++;
        else chunks[used] = chunk.subarray(part);
      }
      chunks.splice(0, used);
    }
    this.#buffered -= n;
    this.#scanned = Math.max(0, this.#scanned - n);
    this.#flow();
    return out;
  }

  /** Offset of the first "\n" in the buffer, or -1; never searches the same bytes twice. */
  #indexOfNewline(): number {
    let base = 0;
    for (const chunk of this.#chunks) {
      const end = base + chunk.length;
      if (end > this.#scanned) {
        const i = chunk.indexOf(0x0a, Math.max(0, this.#scanned - base));
        if (i >= 0) return base + i;
      }
      base = end;
    }
    this.#scanned = base;
    return -1;
  }

  /** Throws if the socket cannot make progress any more: closed, failed or destroyed. */
  #checkAlive(verb: string): void {
    if (this.#closed) throw this.#closedError(verb);
    if (this.#error !== undefined) throw this.#error;
    if (this.#destroyed) throw this.#closedError(verb);
  }

  #checkWritable(verb: string): void {
    this.#checkAlive(verb);
    if (this.#ended) {
      throw new FiberError('ERR_SOCKET_ENDED', `cannot ${verb} ${this}: its sending side was ended with end(); write everything before end(), or open a new connection`);
    }
  }

  #closedError(verb: string): FiberError {
    const how = this.#closed ? 'it was closed with close()' : 'its Node socket was destroyed';
    return new FiberError('ERR_SOCKET_CLOSED', `cannot ${verb} ${this}: ${how}; open a new connection with connect()`);
  }

  #parkWriter(what: string, verb: string): void {
    const waiter = new Waiter<true>();
    this.#writers.push(waiter);
    let woken;
    try {
      woken = parkOn(waiter, `${what} on ${this}`, this.#timeout);
    } finally {
      removeFrom(this.#writers, waiter);
    }
    if (!woken) {
      this.#checkAlive(verb); // an error that came with the timer wins
      throw timedOut(`${what} on ${this}`, this.#timeout!);
    }
  }

  #wakeReader(): void {
    this.#reader?.wake(true);
  }

  #wakeWriters(): void {
    // Each re-checks its own condition. A copy: a waiter woken from the hub
    // runs at once and removes itself from the list.
    for (const waiter of this.#writers.slice()) waiter.wake(true);
  }

  #wakeAll(): void {
    this.#wakeReader();
    this.#wakeWriters();
  }
}

function describeTarget(options: net.NetConnectOpts): string {
  if ('path' in options && options.path !== undefined) return options.path;
  const tcp = options as net.TcpNetConnectOpts;
  return hostPort(tcp.host ?? 'localhost', tcp.port as number);
}

/**
 * Opens a connection and parks the calling fiber until it is established;
 * returns the connected Socket. `connect(port, host = 'localhost')`, or
 * `connect(options)` with Node's net.connect() options (port and host, or
 * path for a Unix socket, localAddress, family, noDelay, keepAlive, lookup,
 * ...) plus `timeout` and `highWaterMark` (see SocketOptions): `timeout`
 * also bounds the connect itself (DNS lookup included).
 *
 * Connection errors are Node's own (ECONNREFUSED, ENOTFOUND, ... with code,
 * errno, syscall, address and port), thrown as Node made them. A connect
 * that fails, times out or is interrupted (kill(), a Timeout) destroys its
 * half-open socket: no descriptor is left behind.
 */
export function connect(port: number, host?: string, options?: SocketOptions): Socket;
export function connect(options: ConnectOptions): Socket;
export function connect(portOrOptions: number | ConnectOptions, host?: string, options: SocketOptions = {}): Socket {
  currentFiberFor('connect');
  let all: ConnectOptions;
  if (portOrOptions !== null && typeof portOrOptions === 'object') {
    all = portOrOptions;
  } else {
    if (host !== undefined && typeof host !== 'string') throw invalidArgType('host', 'a string or undefined', host);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    all = { ...options, port: portOrOptions, host };
  }
  const { timeout, highWaterMark, ...nodeOptions } = all;
  // As net.connect() does, the options go to the constructor too (noDelay, keepAlive, signal).
  const nodeSocket = new net.Socket({ ...(nodeOptions as net.SocketConstructorOpts), allowHalfOpen: true });
  let connected = false;
  try {
    const socket = new Socket(nodeSocket, { timeout, highWaterMark });
    socket[kConnect](nodeOptions as net.NetConnectOpts);
    connected = true;
    return socket;
  } finally {
    if (!connected) nodeSocket.destroy();
  }
}
