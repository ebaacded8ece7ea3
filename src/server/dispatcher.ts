/**
 * One greenlet per HTTP request (what gevent's pywsgi does per connection).
 *
 * Node calls a request listener on the root fiber, which runs the event loop
 * and must never block: so the Dispatcher only decides, there, what happens
 * to a request, and never waits. At most `concurrency` requests run, each in
 * its own greenlet; up to `backlog` more wait in line (FIFO) and start as
 * slots free up; past that, the client gets 503 with Retry-After at once.
 *
 * A request holds its slot until both its greenlet has finished and its
 * response has closed (sent, or the connection lost), so a handler that
 * answers later from a callback still counts. Then:
 * - the handler throws: 500 if no header was sent yet (the RequestError's own
 *   status, 413 or 400, for a body the client got wrong), else the socket is
 *   destroyed; the error is reported like any greenlet failure
 *   (process 'greenletError', else stderr);
 * - `timeout` ms pass: a TimeoutError is thrown into the greenlet (its finally
 *   blocks run) and the client gets 503, or its socket is destroyed when the
 *   headers were already sent;
 * - the client goes away before its response is complete: the greenlet is
 *   killed (FiberExit: a clean finish, nothing reported), so whatever it was
 *   waiting for is given up and its finally blocks run.
 */
import type * as http from 'node:http';
import { Fiber } from '../core/fiber.js';
import { FiberExit, invalidArgType, outOfRange, RequestError } from '../core/errors.js';
import { Greenlet, reportFailure } from '../hub/greenlet.js';
import { wait } from '../hub/hub.js';
import { removeFrom } from '../hub/park.js';
import { TimeoutError } from '../hub/timeout.js';

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

/** How requests are dispatched (the options of wrap(), and part of serve()'s). */
export interface DispatchOptions {
  /** At most this many requests are handled at once, each in its own greenlet (default 1000, gunicorn's worker_connections). */
  concurrency?: number;
  /** Requests that wait for a free slot, beyond which the client gets 503 with Retry-After (default 1000; 0: none wait). */
  backlog?: number;
  /** Milliseconds a request may take, from the start of its handler to the end of its response (default: no limit). */
  timeout?: number;
}

/** Counts since the dispatcher was made, and what it holds now. */
export interface DispatchStats {
  /** Requests being handled now. */
  inFlight: number;
  /** Requests waiting for a free slot now. */
  queued: number;
  /** Requests whose handling has ended (any way), since the start. */
  handled: number;
  /** Answered 503 at once: the backlog was full or the server was closing. */
  rejected: number;
  /** Handlers that threw (a 500, or the RequestError's status). */
  failed: number;
  /** Requests that ran past `timeout` and were killed. */
  timedOut: number;
  /** Requests whose client went away before the response was complete. */
  aborted: number;
}

export interface CheckedDispatchOptions {
  concurrency: number;
  backlog: number;
  timeout: number | undefined;
}

export const DEFAULT_CONCURRENCY = 1000;
export const DEFAULT_BACKLOG = 1000;

function positiveInteger(name: string, value: unknown, zeroAllowed: boolean): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'a number', value);
  if (!Number.isInteger(value) || value < (zeroAllowed ? 0 : 1)) throw outOfRange(name, zeroAllowed ? 'an integer >= 0' : 'an integer >= 1', value);
}

export function checkDispatchOptions(options: DispatchOptions): CheckedDispatchOptions {
  const { concurrency = DEFAULT_CONCURRENCY, backlog = DEFAULT_BACKLOG, timeout } = options;
  positiveInteger('concurrency', concurrency, false);
  positiveInteger('backlog', backlog, true);
  if (timeout !== undefined) positiveInteger('timeout', timeout, false);
  return { concurrency, backlog, timeout };
}

/** Requests already running in a fiber of some dispatcher: a listener wrapped twice (wrap() inside `stackful serve`) runs them directly. */
export const dispatched = new WeakSet<http.IncomingMessage>();

interface Entry {
  /** What `this` is for the listener: the server, as Node calls it. */
  self: unknown;
  state: 'queued' | 'running' | 'turned away';
  req: http.IncomingMessage;
  res: http.ServerResponse;
  greenlet: Greenlet<void> | undefined;
  timer: NodeJS.Timeout | undefined;
  timeoutError: TimeoutError | undefined;
  fiberDone: boolean;
  resDone: boolean;
  released: boolean;
}

/** Runs in the request's greenlet: the listener, and the promise it may return (Koa, async handlers). */
function handle(listener: RequestListener, self: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
  const result = listener.call(self, req, res);
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') wait(result);
}

export class Dispatcher {
  readonly #listener: RequestListener;
  readonly #options: CheckedDispatchOptions;
  readonly #running = new Set<Entry>();
  #queue: Entry[] = [];
  #closing = false;
  #drained: Array<() => void> = [];
  #stats: DispatchStats = { inFlight: 0, queued: 0, handled: 0, rejected: 0, failed: 0, timedOut: 0, aborted: 0 };
  /** Called once per request handled (the max-requests count of a worker). */
  onHandled: (() => void) | undefined;

  constructor(listener: RequestListener, options: CheckedDispatchOptions) {
    this.#listener = listener;
    this.#options = options;
  }

  get closing(): boolean {
    return this.#closing;
  }

  stats(): DispatchStats {
    return { ...this.#stats, inFlight: this.#running.size, queued: this.#queue.length };
  }

  /** Takes one request; called by Node on the root fiber (or, nested, from a fiber: see `dispatched`). Never blocks. */
  dispatch(self: unknown, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (dispatched.has(req)) {
      handle(this.#listener, self, req, res); // already in its own fiber
      return;
    }
    if (this.#closing) {
      this.#stats.rejected++;
      unavailable(res, 'the server is shutting down', true);
      return;
    }
    const full = this.#running.size >= this.#options.concurrency;
    if (full && this.#queue.length >= this.#options.backlog) {
      this.#stats.rejected++;
      unavailable(res, 'the server is busy', false);
      return;
    }
    const entry: Entry = { self, state: 'queued', req, res, greenlet: undefined, timer: undefined, timeoutError: undefined, fiberDone: false, resDone: false, released: false };
    dispatched.add(req);
    res.once('close', () => this.#onResponseClosed(entry));
    if (full) this.#queue.push(entry);
    else this.#start(entry);
  }

  #start(entry: Entry): void {
    const { req, res } = entry;
    entry.state = 'running';
    this.#running.add(entry);
    const name = `${req.method} ${req.url}`;
    let g: Greenlet<void>;
    try {
      // Its spawn site would always be Node's HTTP parser: the name says more, and recording it costs more than the rest of a spawn.
      g = new Greenlet<void>(handle, [this.#listener, entry.self, req, res], { name, spawnSite: false });
    } catch (err) {
      // No fiber to be had (memory, or mappings: vm.max_map_count): turned away, like a full backlog, not a crash.
      this.#running.delete(entry);
      entry.state = 'turned away';
      this.#stats.rejected++;
      report(err, name, undefined);
      unavailable(res, 'no fiber could be made for the request', true);
      return;
    }
    entry.greenlet = g;
    g.rawlink(() => this.#onFiberDone(entry));
    const { timeout } = this.#options;
    if (timeout !== undefined) entry.timer = setTimeout(() => this.#onTimeout(entry), timeout);
    g.start();
    // On the root (Node's callback), run it now rather than on the next loop
    // turn: the handler starts where a plain listener would have run.
    if (Fiber.current === Fiber.root && g.fiber.state === 'new') {
      try {
        g.fiber.switch();
      } catch (err) {
        // The fiber could not start (its stack could not be made): the request fails as if the handler had thrown.
        if (!g.dead) g.kill(err, { block: false });
      }
    }
  }

  #onTimeout(entry: Entry): void {
    entry.timer = undefined;
    const { req, res } = entry;
    this.#stats.timedOut++;
    const ms = this.#options.timeout!;
    const err = new TimeoutError(ms);
    err.message = `${req.method} ${req.url} took longer than ${ms} ms (the timeout option); its fiber was killed and the client ${res.headersSent ? 'disconnected' : 'got 503'}`;
    entry.timeoutError = err;
    const g = entry.greenlet!;
    if (!g.dead) g.kill(err, { block: false });
    if (!res.writableEnded) {
      if (!res.headersSent) unavailable(res, 'the request timed out', true);
      else res.destroy();
    }
  }

  #onResponseClosed(entry: Entry): void {
    entry.resDone = true;
    if (entry.state === 'turned away') return;
    if (entry.state === 'queued') {
      // Still in line: the client went away first.
      removeFrom(this.#queue, entry);
      this.#stats.aborted++;
      return;
    }
    const g = entry.greenlet!;
    if (!entry.res.writableFinished && entry.timeoutError === undefined) {
      this.#stats.aborted++;
      // The client is gone: nobody will read what the handler writes.
      if (!g.dead) g.kill(new FiberExit(), { block: false });
    }
    this.#release(entry);
  }

  #onFiberDone(entry: Entry): void {
    entry.fiberDone = true;
    const g = entry.greenlet!;
    if (!g.successful()) {
      const err = g.exception; // looked at: greenlet.ts does not report it again
      const { res } = entry;
      if (err === entry.timeoutError) {
        report(err, g.name, g);
      } else {
        this.#stats.failed++;
        const clientError = err instanceof RequestError && err.status < 500;
        if (!clientError) report(err, g.name, g);
        if (!res.writableEnded && !res.destroyed) {
          if (!res.headersSent) {
            const status = err instanceof RequestError ? err.status : 500;
            const text = err instanceof RequestError ? `${err.message}\n` : 'Internal Server Error\n';
            // A body left unread (a 413 half-way) would be read as the next request: close.
            respond(res, status, text, {}, status >= 500 || !entry.req.complete);
          } else {
            res.destroy();
          }
        }
      }
    }
    this.#release(entry);
  }

  #release(entry: Entry): void {
    if (entry.released || !entry.fiberDone || !entry.resDone) return;
    entry.released = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.#running.delete(entry);
    this.#stats.handled++;
    while (this.#queue.length > 0 && this.#running.size < this.#options.concurrency) this.#start(this.#queue.shift()!);
    this.onHandled?.();
    if (this.#closing && this.#running.size === 0 && this.#queue.length === 0) {
      const drained = this.#drained;
      this.#drained = [];
      for (const resolve of drained) resolve();
    }
  }

  /**
   * Stops taking requests (new ones get 503 and Connection: close), lets those
   * in flight and in line finish, and at `deadline` ms kills the rest (their
   * finally blocks run; their clients get 503 or a closed socket). Resolves
   * once none is left.
   */
  drain(deadline: number): Promise<void> {
    this.#closing = true;
    // Those not answered yet close their connection after the answer.
    for (const entry of [...this.#running, ...this.#queue]) if (!entry.res.headersSent) entry.res.shouldKeepAlive = false;
    if (this.#running.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      this.#drained.push(done);
      timer = setTimeout(() => {
        timer = undefined;
        this.#killAll();
        // A fiber that catches its FiberExit and goes on waiting is left to itself.
        setTimeout(done, 100).unref();
      }, deadline);
    });
  }

  #killAll(): void {
    const queued = this.#queue;
    this.#queue = [];
    for (const entry of queued) {
      entry.state = 'turned away';
      unavailable(entry.res, 'the server is shutting down', true);
    }
    for (const entry of [...this.#running]) {
      const g = entry.greenlet!;
      if (!g.dead) g.kill(new FiberExit(), { block: false });
      const { res } = entry;
      if (!res.writableEnded) {
        if (!res.headersSent) unavailable(res, 'the server is shutting down', true);
        else res.destroy();
      }
    }
  }
}

/** The answer when a request cannot be handled now: 503, with Retry-After (gunicorn and most proxies read it). */
function unavailable(res: http.ServerResponse, why: string, close: boolean): void {
  respond(res, 503, `Service Unavailable: ${why}\n`, { 'Retry-After': '1' }, close);
}

function respond(res: http.ServerResponse, status: number, text: string, headers: Record<string, string>, close: boolean): void {
  if (res.headersSent || res.destroyed) return;
  try {
    // Whatever the handler had set (Content-Type: text/html...) is not about this answer.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers, ...(close ? { Connection: 'close' } : {}) });
    res.end(text);
  } catch {
    res.destroy();
  }
}

/** A request's failure, through the channel every greenlet failure takes (reportFailure). */
function report(error: unknown, name: string, g: Greenlet<any> | undefined): void {
  reportFailure(error, g, `stackful/server: ${JSON.stringify(name)} failed`);
}
