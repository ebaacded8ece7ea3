// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * The green Server and listen() of stackful/net (see index.ts, the entry).
 */
import * as net from 'node:net';
import { FiberError, invalidArgType } from '../../core/errors.js';
import { currentFiberFor, parkOn, Waiter } from '../../hub/hub.js';
import { Greenlet } from '../../hub/greenlet.js';
import { checkTimeout, removeFrom } from '../../hub/park.js';
import { checkHighWaterMark, hostPort, Socket, timedOut, type SocketOptions } from './socket.js';

const DEFAULT_MAX_PENDING = 511;

/** Key of the listen step, callable only from this module. */
const kListen: unique symbol = Symbol('listen');

/**
 * Node's server.listen() options, and the options of each accepted Socket:
 * `timeout` and `highWaterMark` apply to the accepted sockets, not to
 * accept() itself (which takes its own `timeout`).
 */
export interface ListenOptions extends SocketOptions {
  /** Default 0: a free port chosen by the system. */
  port?: number;
  /** Default: Node's (every interface, IPv6 and IPv4 where available). */
  host?: string;
  /** A Unix domain socket path, instead of port and host. */
  path?: string;
  /** The kernel's queue of connections not yet taken by Node (Node's default: 511). */
  backlog?: number;
  /**
   * Connections taken by Node that may wait for accept() at once (default
   * 511, as Node's backlog); one more is closed as it arrives, so a server
   * nobody accepts from holds bounded memory.
   */
  maxPending?: number;
  exclusive?: boolean;
  ipv6Only?: boolean;
  /** Disable Nagle's algorithm on accepted sockets. */
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

/**
 * A listening TCP (or IPC) server. Connections are taken by Node as they
 * arrive and queued until a fiber accept()s them, unless a handler serves
 * them (serve(), serveForever()): then each gets a greenlet of its own.
 * Queued connections are already Sockets: their errors are kept, and their
 * data is buffered up to the high-water mark.
 */
export class Server {
  readonly #server: net.Server;
  readonly #socketOptions: SocketOptions;
  readonly #maxPending: number;
  #address: net.AddressInfo | string | null = null;
  /** Connections taken by Node that no fiber has accepted yet, oldest first. */
  #queue: Socket[] = [];
  /** Fibers parked in accept(), oldest first; each is woken holding its Socket, or with undefined to look again. */
  #acceptors: Array<Waiter<Socket | undefined>> = [];
  /** Fibers parked in serveForever(), woken by close(). */
  #servers: Array<Waiter<void>> = [];
  #handler: ((socket: Socket) => unknown) | undefined;
  #listening = false;
  #closed = false;
  /** A server error not yet thrown by an accept(). */
  #error: Error | undefined;
  /** The listen() waiting for 'listening'. */
  #starting: Waiter<Error | undefined> | undefined;

  /** Use listen(). */
  private constructor(server: net.Server, socketOptions: SocketOptions, maxPending: number) {
    this.#server = server;
    this.#socketOptions = socketOptions;
    this.#maxPending = maxPending;
    server.on('connection', (nodeSocket: net.Socket) => this.#onConnection(nodeSocket));
    server.on('error', (err: Error) => this.#onError(err));
    server.on('listening', () => {
      this.#listening = true;
      this.#address = server.address();
      this.#starting?.wake(undefined);
    });
  }

  /** The Node server underneath. */
  get nodeServer(): net.Server {
    return this.#server;
  }

  /** Where it listens (kept after close()): `{ address, family, port }`, or the path of a Unix socket. */
  address(): net.AddressInfo | string | null {
    return this.#address;
  }

  /** The port it listens on (a free one when listen() was given 0). */
  get port(): number | undefined {
    const address = this.#address;
    return address !== null && typeof address === 'object' ? address.port : undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Connections waiting for accept(). */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * The oldest connection not yet accepted, parking the calling fiber until
   * one arrives (at most `timeout` ms: then TimeoutError). Many fibers may
   * accept at once; connections go to them in the order they began waiting.
   * A fiber interrupted (kill(), a Timeout) just after it was handed a
   * connection gives it back, to the next acceptor or the front of the queue.
   * After close(): FiberError ERR_SERVER_CLOSED.
   */
  accept(options: { timeout?: number } = {}): Socket {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    const timeout = checkTimeout(options.timeout);
    currentFiberFor('accept a connection');
    for (;;) {
      this.#checkAccepting();
      const queued = this.#queue.shift();
      if (queued !== undefined) return queued;
      if (this.#error !== undefined) {
        const err = this.#error;
        this.#error = undefined;
        throw err;
      }
      const waiter = new Waiter<Socket | undefined>();
      this.#acceptors.push(waiter);
      let woken = false;
      let done = false;
      try {
        woken = parkOn(waiter, `Server.accept() on ${this}`, timeout);
        done = true;
      } finally {
        removeFrom(this.#acceptors, waiter);
        if (!done && waiter.settled) {
          const handed = waiter.wait();
          if (handed instanceof Socket) this.#hand(handed, true);
        }
      }
      if (!woken) throw timedOut(`Server.accept() on ${this}`, timeout!);
      const outcome = waiter.wait();
      if (outcome instanceof Socket) return outcome;
    }
  }

  /**
   * Hands every connection, those queued and those to come, to
   * `handler(socket)` in a greenlet of its own (gevent's StreamServer), and
   * returns at once (it works on the root fiber too). The socket is closed
   * when the handler returns or throws; a handler that throws is reported
   * like any greenlet nobody joined. Fibers parked in accept() get FiberError
   * ERR_SERVER_SERVING, as does a second serve().
   */
  serve(handler: (socket: Socket) => unknown): this {
    if (typeof handler !== 'function') throw invalidArgType('handler', 'a function', handler);
    if (this.#closed) throw this.#closedError('serve');
    if (this.#handler !== undefined) throw this.#servingError('serve');
    this.#handler = handler;
    const queued = this.#queue;
    this.#queue = [];
    for (const socket of queued) this.#dispatch(socket);
    this.#wakeAcceptors();
    return this;
  }

  /**
   * serve(handler), then parks the calling fiber until the server is closed
   * (by close() from another fiber). However it leaves (close(), kill(), a
   * Timeout), the server is closed; connections being handled go on.
   */
  serveForever(handler: (socket: Socket) => unknown): void {
    currentFiberFor('serve forever');
    this.serve(handler);
    try {
      while (!this.#closed) {
        const waiter = new Waiter<void>();
        this.#servers.push(waiter);
        try {
          waiter.wait(`Server.serveForever() on ${this}`);
        } finally {
          removeFrom(this.#servers, waiter);
        }
      }
    } finally {
      this.close();
    }
  }

  /**
   * Stops listening and closes the connections nobody accepted; never waits
   * and works on the root fiber. Connections already accepted or being
   * served stay open. Fibers in accept() get FiberError ERR_SERVER_CLOSED;
   * serveForever() returns.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    const queued = this.#queue;
    this.#queue = [];
    for (const socket of queued) socket.close();
    this.#wakeAcceptors();
    for (const waiter of this.#servers.slice()) waiter.wake();
    this.#starting?.wake(undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    const address = this.#address;
    const where = address === null ? 'not listening' : typeof address === 'string' ? address : hostPort(address.address, address.port);
    return `Server (${where})`;
  }

  /** Starts listening and parks until Node listens. Used by listen() only. */
  static [kListen](options: ListenOptions): Server {
    const { timeout, highWaterMark, noDelay, keepAlive, keepAliveInitialDelay, maxPending = DEFAULT_MAX_PENDING, ...listenOptions } = options;
    const socketOptions: SocketOptions = { timeout: checkTimeout(timeout), highWaterMark: checkHighWaterMark(highWaterMark) };
    if (typeof maxPending !== 'number' || !Number.isInteger(maxPending) || maxPending < 0) {
      throw invalidArgType('maxPending', 'a non-negative integer', maxPending);
    }
    const nodeServer = net.createServer({ allowHalfOpen: true, noDelay, keepAlive, keepAliveInitialDelay });
    const server = new Server(nodeServer, socketOptions, maxPending);
    let listening = false;
    try {
      if (listenOptions.path === undefined && listenOptions.port === undefined) listenOptions.port = 0;
      nodeServer.listen(listenOptions);
      while (!server.#listening) {
        if (server.#error !== undefined) throw server.#error;
        if (server.#closed) throw server.#closedError('listen');
        const waiter = new Waiter<Error | undefined>();
        server.#starting = waiter;
        try {
          waiter.wait(`listen() on ${describeListen(listenOptions)}`);
        } finally {
          server.#starting = undefined;
        }
      }
      listening = true;
      return server;
    } finally {
      if (!listening) {
        server.#closed = true;
        nodeServer.close();
      }
    }
  }

  #onConnection(nodeSocket: net.Socket): void {
    const socket = new Socket(nodeSocket, this.#socketOptions);
    if (this.#closed) {
      socket.close();
      return;
    }
    if (this.#handler !== undefined) {
      this.#dispatch(socket);
      return;
    }
    this.#hand(socket, false);
  }

  /** Hands `socket` to the oldest acceptor still waiting, else queues it (at the front when given back). */
  #hand(socket: Socket, front: boolean): void {
    if (this.#closed) {
      socket.close();
      return;
    }
    while (this.#acceptors.length > 0) {
      const waiter = this.#acceptors.shift()!;
      if (!waiter.settled) {
        waiter.wake(socket);
        return;
      }
    }
    if (front) this.#queue.unshift(socket);
    else if (this.#queue.length >= this.#maxPending) socket.close(); // the kernel's backlog is the place to wait
    else this.#queue.push(socket);
  }

  #dispatch(socket: Socket): void {
    const handler = this.#handler!;
    const name = `${handler.name || 'handler'} ${hostPort(socket.remoteAddress, socket.remotePort)}`;
    new Greenlet(serveOne, [handler, socket], { name }).start();
  }

  #onError(err: Error): void {
    if (!this.#listening) {
      this.#error = err;
      this.#starting?.wake(err);
      return;
    }
    // An accept error (EMFILE, ...): the next accept() throws it, once.
    this.#error = err;
    const waiter = this.#acceptors.shift();
    waiter?.wake(undefined);
  }

  /** Each looks again (and finds the server closed, serving or failed). A copy: see Socket#wakeWriters. */
  #wakeAcceptors(): void {
    for (const waiter of this.#acceptors.slice()) waiter.wake(undefined);
  }

  #checkAccepting(): void {
    if (this.#closed) throw this.#closedError('accept on');
    if (this.#handler !== undefined) throw this.#servingError('accept on');
  }

  #closedError(verb: string): FiberError {
    return new FiberError('ERR_SERVER_CLOSED', `cannot ${verb} ${this}: it was closed with close(); listen() again for a new server`);
  }

  #servingError(verb: string): FiberError {
    return new FiberError(
      'ERR_SERVER_SERVING',
      `cannot ${verb} ${this}: it already hands every connection to the handler given to serve(); use either accept() or one serve()`,
    );
  }
}

function serveOne(handler: (socket: Socket) => unknown, socket: Socket): unknown {
  try {
    return handler(socket);
  } finally {
    socket.close();
  }
}

function describeListen(options: ListenOptions): string {
  if (options.path !== undefined) return options.path;
  return hostPort(options.host ?? '::', options.port ?? 0);
}

/**
 * Starts a server and parks the calling fiber until it listens:
 * `listen(port = 0, host?)` or `listen(options)` (see ListenOptions; the
 * socket options apply to every accepted Socket). Listen errors
 * (EADDRINUSE, EACCES, ...) are Node's own.
 */
export function listen(port?: number, host?: string, options?: ListenOptions): Server;
export function listen(options: ListenOptions): Server;
export function listen(portOrOptions?: number | ListenOptions, host?: string, options: ListenOptions = {}): Server {
  currentFiberFor('listen');
  let all: ListenOptions;
  if (portOrOptions !== null && typeof portOrOptions === 'object') {
    all = { ...portOrOptions };
  } else {
    if (host !== undefined && typeof host !== 'string') throw invalidArgType('host', 'a string or undefined', host);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    all = { ...options, port: portOrOptions ?? 0 };
    if (host !== undefined) all.host = host;
  }
  return Server[kListen](all);
}
