/**
 * stackful/server: serve HTTP with one greenlet per request (gevent's
 * pywsgi, gunicorn's gevent worker), so handlers written in blocking style
 * (fs.readFileSync, execSync, stackful/http, readJson(req)) overlap.
 *
 *   const { serve, readJson } = require('stackful/server');
 *   const server = serve((req, res) => {
 *     const order = readJson(req);                     // parks this request's fiber only
 *     res.end(execSync(`./price ${order.id}`));        // with stackful/register: the same
 *   }, { port: 8080, concurrency: 500, timeout: 10_000 });
 *   await server.ready;                                // listening
 *   await server.close({ deadline: 5_000 });           // graceful
 *
 * `wrap(listener, options)` is the same dispatch for a server you create.
 * Any Node request listener works: a `(req, res)` function, an Express app,
 * Koa's `app.callback()`. For an app you do not want to touch at all, see
 * the `stackful serve` command and the `stackful/serve` preload.
 */
import cluster from 'node:cluster';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { invalidArgType, outOfRange, ServerError } from '../core/errors.js';
import { checkDispatchOptions, Dispatcher, type DispatchOptions, type DispatchStats, type RequestListener } from './dispatcher.js';
import { closeServer, ownServers } from './hook.js';
import { countRequest, DEFAULT_GRACEFUL_TIMEOUT, installShutdown, onShutdown } from './process.js';
import { Supervisor } from './supervisor.js';

export { readBody, readJson, readText, DEFAULT_BODY_LIMIT } from './body.js';
export type { BodyOptions } from './body.js';
export { RequestError, ServerError } from '../core/errors.js';
export { DEFAULT_CONCURRENCY, DEFAULT_BACKLOG } from './dispatcher.js';
export type { DispatchOptions, DispatchStats, RequestListener } from './dispatcher.js';
export { DEFAULT_GRACEFUL_TIMEOUT } from './process.js';

export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '127.0.0.1';

export interface ServeOptions extends DispatchOptions {
  /** Default 8000 (gunicorn's); 0 picks a free port (see `address()`). */
  port?: number;
  /** Default '127.0.0.1' (gunicorn's); '0.0.0.0' or '::' to take connections from other hosts. */
  host?: string;
  /** TLS options (`key`, `cert`, `pfx`, `ca`...): serve https instead of http. */
  tls?: https.ServerOptions;
  /** Options for Node's `http.createServer()` (`keepAliveTimeout` is a property: set it on `server`). */
  serverOptions?: http.ServerOptions;
  /**
   * Run this many processes with Node's cluster, each serving with fibers.
   * The script runs again in each worker, where serve() serves; in the
   * primary, serve() only manages the workers (see Supervisor).
   */
  workers?: number;
  /** What close() without a deadline, SIGTERM/SIGINT and a reload give requests in flight, in ms (default 30,000). */
  gracefulTimeout?: number;
  /** With `workers`: a worker that has handled this many requests stops gracefully and is replaced (gunicorn's max_requests). */
  maxRequests?: number;
  /** With `workers`: a worker whose event loop is blocked this long (ms, no heartbeat) is killed and replaced (default 30,000, gunicorn's timeout; 0: never). */
  workerTimeout?: number;
  /**
   * Whether SIGTERM and SIGINT close the server gracefully and then exit the
   * process (a second one of the same: at once), and SIGHUP reloads the
   * workers. Default: true with `workers`, false otherwise.
   */
  signals?: boolean;
}

export interface CloseOptions {
  /** Milliseconds requests in flight get to finish before they are killed (default: `gracefulTimeout`). */
  deadline?: number;
}

function checkMs(name: string, value: unknown, zeroAllowed = true): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'a number', value);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) throw outOfRange(name, zeroAllowed ? 'an integer >= 0' : 'an integer >= 1', value);
  return value;
}

function checkListener(listener: unknown): RequestListener {
  if (typeof listener !== 'function') throw invalidArgType('listener', 'a request listener function ((req, res) => ..., an Express app, Koa app.callback())', listener);
  return listener as RequestListener;
}

/**
 * A running server: Node's server (`server`) whose requests run in fibers, or,
 * in a cluster primary, the manager of the workers that run them.
 */
export class Server {
  /** Node's server (http or https); undefined in a cluster primary, which serves nothing itself. */
  readonly server: http.Server | https.Server | undefined;
  /**
   * Resolves with this once listening (in a cluster primary: once a worker
   * listens); rejects when listen() fails (EADDRINUSE...), or in a cluster
   * primary with ServerError ERR_WORKERS_FAILED when the workers keep dying
   * before any listens. Not awaited, a rejection ends the process as any
   * unhandled rejection does.
   */
  readonly ready: Promise<this>;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #supervisor: Supervisor | undefined;
  readonly #gracefulTimeout: number;
  #forget: (() => void) | undefined;

  /** Servers are made by serve(). */
  constructor(listener: RequestListener, options: ServeOptions, internal: symbol) {
    if (internal !== MAKE) throw new TypeError('a Server is made by serve() from stackful/server, not by new Server()');
    const dispatch = checkDispatchOptions(options);
    const { port = DEFAULT_PORT, host = DEFAULT_HOST, tls, serverOptions = {}, workers, signals } = options;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw outOfRange('port', 'an integer from 0 to 65535', port);
    if (typeof host !== 'string') throw invalidArgType('host', 'a string', host);
    if (tls !== undefined && (tls === null || typeof tls !== 'object')) throw invalidArgType('tls', 'an object of TLS options (key, cert, ...)', tls);
    if (serverOptions === null || typeof serverOptions !== 'object') throw invalidArgType('serverOptions', 'an object', serverOptions);
    checkMs('workers', workers, false);
    const maxRequests = checkMs('maxRequests', options.maxRequests, false);
    const workerTimeout = checkMs('workerTimeout', options.workerTimeout);
    this.#gracefulTimeout = checkMs('gracefulTimeout', options.gracefulTimeout) ?? DEFAULT_GRACEFUL_TIMEOUT;
    if (signals !== undefined && typeof signals !== 'boolean') throw invalidArgType('signals', 'a boolean', signals);
    if (maxRequests !== undefined && workers === undefined) {
      throw new ServerError('ERR_SERVER_OPTION', 'maxRequests restarts a worker process after that many requests, so it needs `workers` too (a single process would just stop)');
    }

    if (workers !== undefined && cluster.isPrimary) {
      const supervisor = new Supervisor({ workers, gracefulTimeout: this.#gracefulTimeout, workerTimeout });
      this.#supervisor = supervisor;
      if (signals !== false) supervisor.handleSignals(this.#gracefulTimeout);
      supervisor.start();
      this.ready = supervisor.whenListening().then(() => this);
      return;
    }

    const dispatcher = new Dispatcher(listener, dispatch);
    this.#dispatcher = dispatcher;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => dispatcher.dispatch(server, req, res);
    const server = tls !== undefined ? https.createServer({ ...serverOptions, ...tls }, handler) : http.createServer(serverOptions, handler);
    ownServers.add(server);
    this.server = server;
    if (cluster.isWorker && workers !== undefined) {
      dispatcher.onHandled = countRequest;
      installShutdown({ gracefulTimeout: this.#gracefulTimeout, signals: signals !== false, maxRequests });
    } else if (signals === true) {
      installShutdown({ gracefulTimeout: this.#gracefulTimeout, signals: true });
    }
    this.#forget = onShutdown((deadline) => this.close({ deadline }));
    this.ready = new Promise<this>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve(this);
      });
    });
  }

  /** Where it listens (in a cluster primary: where the first worker listened); null before. */
  address(): AddressInfo | string | null {
    if (this.#supervisor !== undefined) return this.#supervisor.address();
    return this.server!.address();
  }

  /** What its dispatcher counts (zeros in a cluster primary: each worker counts its own). */
  stats(): DispatchStats {
    return this.#dispatcher?.stats() ?? { inFlight: 0, queued: 0, handled: 0, rejected: 0, failed: 0, timedOut: 0, aborted: 0 };
  }

  /** The worker pids, in a cluster primary; [process.pid] otherwise. */
  pids(): number[] {
    return this.#supervisor?.pids() ?? [process.pid];
  }

  /** In a cluster primary: new workers start, then the old ones stop gracefully (what SIGHUP does). */
  reload(): void {
    if (this.#supervisor === undefined) throw new ServerError('ERR_SERVER_NOT_SUPERVISOR', 'reload() starts new worker processes, so only a server started with `workers` in the cluster primary has it');
    this.#supervisor.reload();
  }

  /**
   * Graceful shutdown: stops accepting connections, lets the requests in
   * flight (and in line) finish, kills the rest at the deadline (their
   * fibers' finally blocks run; their clients get 503 or a closed socket),
   * closes every connection. A second call can shorten the deadline.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    const deadline = checkMs('deadline', options.deadline) ?? this.#gracefulTimeout;
    this.#forget?.();
    return this.#supervisor !== undefined ? this.#supervisor.stop(deadline) : closeServer(this.server!, this.#dispatcher, deadline);
  }
}

const MAKE = Symbol('serve');

/** Serves `listener` with one greenlet per request; see ServeOptions. */
export function serve(listener: RequestListener, options: ServeOptions = {}): Server {
  checkListener(listener);
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  return new Server(listener, options, MAKE);
}

/** A request listener that hands each request to a greenlet of its own; for a server you create. */
export interface WrappedListener {
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  /** What its dispatcher counts. */
  stats(): DispatchStats;
  /**
   * Stops taking requests (new ones get 503), lets those in flight finish,
   * kills the rest after `deadline` ms. Close the server itself as well.
   */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * The dispatch of serve() for a server you create:
 *   http.createServer(wrap(app, { concurrency: 200 })).listen(8080)
 */
export function wrap(listener: RequestListener, options: DispatchOptions = {}): WrappedListener {
  checkListener(listener);
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  const dispatcher = new Dispatcher(listener, checkDispatchOptions(options));
  const wrapped = function (this: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    dispatcher.dispatch(this, req, res);
  } as WrappedListener;
  wrapped.stats = () => dispatcher.stats();
  wrapped.close = (closeOptions: CloseOptions = {}) => dispatcher.drain(checkMs('deadline', closeOptions.deadline) ?? DEFAULT_GRACEFUL_TIMEOUT);
  return wrapped;
}
