// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful/http: a blocking-style HTTP client for fibers, on Node's `http`
 * and `https` modules (what `requests` is under gevent).
 *
 *   const http = require('stackful/http');
 *   spawn(() => {
 *     const res = http.get('http://127.0.0.1:8080/users/1', { timeout: 5000 });
 *     if (res.ok) console.log(res.json());
 *   });
 *
 * `request()` and `get()` park the calling fiber until the status line and
 * headers have arrived, and return a `Response`; its body readers park it
 * until the data is there. Only that fiber waits: the event loop, timers and
 * every other fiber go on. On the root fiber they throw `FiberError`
 * `ERR_BLOCKING_ON_ROOT` before anything is sent.
 *
 * Errors: a status of 4xx or 5xx is a `Response` like any other (check `ok`
 * or `status`), as with fetch. Network errors are Node's own, thrown as Node
 * reports them (`ECONNREFUSED`, `ENOTFOUND`, `ECONNRESET` with `code`,
 * `errno`, `syscall`, `address`, `port`), and so are bad URLs, headers and
 * methods (`ERR_INVALID_URL`, `ERR_INVALID_HTTP_TOKEN`, ...).
 *
 * Interruption: when an exception is raised in a fiber while it waits for a
 * response or for body data (`kill()`, a `Timeout`, the `timeout` option), the
 * request is aborted: its socket is destroyed, so the server sees the
 * connection close and nothing leaks, and the exception goes on unwinding the
 * fiber. A later read of that response throws `ERR_STREAM_DESTROYED`.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { invalidArgType } from '../core/errors.js';
import { currentFiberFor, parkOn, Waiter } from '../hub/hub.js';
import { checkTimeout, removeFrom } from '../hub/park.js';
import { TimeoutError } from '../hub/timeout.js';
import { decodeWithCharset } from './text.js';

/**
 * What a request can send: a string (UTF-8), bytes (a Buffer, any typed
 * array or DataView, an ArrayBuffer), a `URLSearchParams` (sent as a form,
 * `application/x-www-form-urlencoded`) or any other object or array (sent as
 * JSON, `application/json`). The Content-Type is set only when `headers` has
 * none; Content-Length is always set unless given.
 */
export type RequestBody = string | ArrayBufferView | ArrayBuffer | URLSearchParams | object;

/** The options of `request()`; those not listed go to Node's `http.request()` unchanged (`ca`, `rejectUnauthorized`, `lookup`, `family`, `localAddress`, `socketPath`, `auth`, ...). */
export interface RequestOptions extends Omit<https.RequestOptions, 'method' | 'protocol' | 'host' | 'hostname' | 'port' | 'path' | 'headers' | 'timeout' | 'agent' | 'signal'> {
  /** Default `'POST'` when there is a `body`, `'GET'` otherwise. */
  method?: string;
  /** Where to send the request; or give `protocol`, `host`, `port` and `path` instead. */
  url?: string | URL;
  /** `'http:'` (default) or `'https:'`. */
  protocol?: string;
  /** The server's host name or IP address (default `'localhost'`); `hostname` is the same. */
  host?: string;
  hostname?: string;
  port?: number | string;
  /** Path and query string (default `'/'`). */
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: RequestBody | null;
  /**
   * Milliseconds the fiber waits at most, each time it waits: for the
   * response (connecting, sending, the status line and headers), then for
   * each piece of the body. Past it, `TimeoutError` (code `ERR_FIBER_TIMEOUT`)
   * is thrown and the request is aborted. Like `requests`' timeout, it is not
   * a limit on the whole exchange: for that, wrap the calls in
   * `Timeout.run(ms, ...)` or `withTimeout()`.
   */
  timeout?: number;
  /** Node's `agent`: an `http.Agent` / `https.Agent`, or `false` for a connection of its own. Default: Node's global agent. */
  agent?: http.Agent | boolean;
  /** Aborts the request from outside: the waiting call throws Node's `AbortError` (code `ABORT_ERR`). */
  signal?: AbortSignal;
  /**
   * `'follow'` (default): redirects (301, 302, 303, 307, 308 with a Location)
   * are followed, up to 20, as fetch and `requests` do: 303, and 301/302
   * after a POST, become a GET without a body; 307 and 308 repeat the
   * method and the body; a redirect to another origin drops the
   * Authorization, Cookie and Host headers and the `auth` option.
   * `'manual'`: the 3xx response is returned.
   */
  redirect?: 'follow' | 'manual';
}

/** The options of `get()`: those of `request()` but the method, the URL and a body. */
export type GetOptions = Omit<RequestOptions, 'method' | 'url' | 'protocol' | 'host' | 'hostname' | 'port' | 'path' | 'body'>;

/** Redirects followed before giving up (fetch's limit). */
export const MAX_REDIRECTS = 20;

/** Sends a GET request to `url` and returns the `Response` once its headers have arrived. */
export function get(url: string | URL, options: GetOptions = {}): Response {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  return request({ ...options, url, method: 'GET' });
}

/**
 * Sends a request and parks the calling fiber until the status line and
 * headers have arrived; returns the `Response`, whose body is then read with
 * `text()`, `json()`, `buffer()` or chunk by chunk with `read()`.
 */
export function request(options: RequestOptions): Response {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  currentFiberFor('send an HTTP request');
  const {
    method: methodOption, url: urlOption, protocol, host, hostname, port, path,
    headers: headersOption, body: bodyOption, timeout: timeoutOption, redirect = 'follow', ...passThrough
  } = options;
  const timeout = checkTimeout(timeoutOption);
  if (redirect !== 'follow' && redirect !== 'manual') throw invalidArgType('redirect', "'follow' or 'manual'", redirect);
  if (methodOption !== undefined && typeof methodOption !== 'string') throw invalidArgType('method', 'a string', methodOption);
  if (headersOption !== undefined && (headersOption === null || typeof headersOption !== 'object')) throw invalidArgType('headers', 'an object', headersOption);

  let url = targetOf(urlOption, { protocol, host, hostname, port, path });
  const headers: http.OutgoingHttpHeaders = { ...headersOption };
  let body = encodeBody(bodyOption, headers);
  let method = (methodOption ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  for (let redirects = 0; ; redirects++) {
    const exchange = new Exchange(url, method, headers, body, passThrough, timeout);
    const res = exchange.waitForResponse();
    const location = res.headers.location;
    if (redirect === 'manual' || !REDIRECTS.has(res.statusCode!) || location === undefined) {
      return new Response(exchange, redirects > 0);
    }
    exchange.close();
    const next = new URL(location, url);
    if (redirects === MAX_REDIRECTS) {
      throw Object.assign(new Error(`${exchange}: stopped after ${MAX_REDIRECTS} redirects (the last one to ${display(next)}); pass redirect: 'manual' to see them`), {
        code: 'ERR_TOO_MANY_REDIRECTS',
      });
    }
    if (next.origin !== url.origin) {
      for (const name of Object.keys(headers)) if (CROSS_ORIGIN_DROPPED.has(name.toLowerCase())) delete headers[name];
      delete passThrough.auth; // Node would turn it into an Authorization header
    }
    const status = res.statusCode!;
    if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      for (const name of Object.keys(headers)) if (BODY_HEADERS.has(name.toLowerCase())) delete headers[name];
    }
    url = next;
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CROSS_ORIGIN_DROPPED = new Set(['authorization', 'proxy-authorization', 'cookie', 'host']);
const BODY_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location', 'transfer-encoding']);

/** A URL without its credentials, for messages and `Response#url`. */
function display(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function targetOf(url: unknown, parts: Pick<RequestOptions, 'protocol' | 'host' | 'hostname' | 'port' | 'path'>): URL {
  const given = Object.entries(parts).filter(([, value]) => value !== undefined).map(([name]) => name);
  if (url !== undefined) {
    if (given.length > 0) throw invalidArgType('url', `undefined when \`${given.join('`, `')}\` ${given.length > 1 ? 'are' : 'is'} given (give one or the other)`, url);
    if (typeof url === 'string') return new URL(url); // Node's ERR_INVALID_URL
    if (url instanceof URL) return new URL(url.href);
    throw invalidArgType('url', 'a string or a URL', url);
  }
  let host = parts.hostname ?? parts.host ?? 'localhost';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`; // an IPv6 address
  const port = parts.port === undefined ? '' : `:${parts.port}`;
  return new URL(`${parts.protocol ?? 'http:'}//${host}${port}${parts.path ?? '/'}`);
}

/** The body as bytes; sets Content-Type (when missing) and Content-Length (unless given) in `headers`. */
function encodeBody(body: unknown, headers: http.OutgoingHttpHeaders): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  let bytes: Buffer;
  let type: string | undefined;
  if (typeof body === 'string') bytes = Buffer.from(body, 'utf8');
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (ArrayBuffer.isView(body)) bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  else if (body instanceof ArrayBuffer) bytes = Buffer.from(body);
  else if (body instanceof URLSearchParams) {
    bytes = Buffer.from(body.toString(), 'utf8');
    type = 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (typeof body === 'object' && typeof (body as { pipe?: unknown }).pipe !== 'function') {
    bytes = Buffer.from(JSON.stringify(body), 'utf8');
    type = 'application/json';
  } else {
    throw invalidArgType('body', 'a string, a Buffer, a Uint8Array, an ArrayBuffer, a URLSearchParams or an object to send as JSON (not a stream: read it into a Buffer first)', body);
  }
  const names = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
  if (type !== undefined && !names.has('content-type')) headers['content-type'] = type;
  if (!names.has('content-length') && !names.has('transfer-encoding')) headers['content-length'] = bytes.length;
  return bytes;
}

function interrupted(what: string, err: unknown): Error {
  const reason = err instanceof Error ? err.name : typeof err;
  return Object.assign(new Error(`cannot read the body of ${what}: the request was aborted when the fiber waiting for it was interrupted (${reason})`), {
    code: 'ERR_STREAM_DESTROYED',
  });
}

/**
 * One request and its response, and all the Node events about them. It
 * never refers to the `Response` that wraps it, so a Response dropped
 * unread can be collected (and its connection closed, see `collected`).
 */
class Exchange {
  readonly req: http.ClientRequest;
  res: http.IncomingMessage | undefined;
  readonly #label: string;
  readonly url: URL;
  readonly #timeout: number | undefined;
  #waiters: Array<Waiter<void>> = [];
  /** A network error, or what ended the exchange early (close(), an interrupted wait). */
  #error: Error | undefined;
  #ended = false;
  #closed = false;

  constructor(url: URL, method: string, headers: http.OutgoingHttpHeaders, body: Buffer | undefined, passThrough: object, timeout: number | undefined) {
    this.url = url;
    this.#label = `${method} ${display(url)}`;
    this.#timeout = timeout;
    const options: https.RequestOptions = { ...passThrough, method, headers };
    for (const key of Object.keys(options) as Array<keyof typeof options>) if (options[key] === undefined) delete options[key];
    // Any other protocol goes to http.request, which refuses it with Node's ERR_INVALID_PROTOCOL.
    this.req = (url.protocol === 'https:' ? https : http).request(url, options);
    this.req.on('response', (res) => this.#onResponse(res));
    // Also after the response: a socket error is reported here first (and an
    // 'error' nobody listens to would take the process down).
    this.req.on('error', (err) => this.#fail(err));
    this.req.end(body);
  }

  toString(): string {
    return this.#label;
  }

  #onResponse(res: http.IncomingMessage): void {
    this.res = res;
    if (this.#closed) {
      res.on('error', () => {});
      res.destroy();
      return;
    }
    // A 'readable' listener keeps the response paused: Node buffers up to its
    // high-water mark, then stops reading the socket until read() drains it,
    // so the server's writes see back-pressure while the fiber does not read.
    res.on('readable', () => this.#wakeAll());
    res.on('end', () => {
      this.#ended = true;
      collected.unregister(this);
      this.#wakeAll();
    });
    res.on('error', (err) => this.#fail(err));
    // Node reports a connection lost mid-body as an 'error' (ECONNRESET,
    // 'aborted') before 'close'; this is for any close without either, so
    // that no reader waits for data that cannot come.
    res.on('close', () => {
      if (!this.#ended) this.#fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
    this.#wakeAll();
  }

  #fail(err: Error): void {
    this.#error ??= err;
    this.#wakeAll();
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.wake();
  }

  /**
   * Parks until the next event, at most `timeout` ms. Any exception raised in
   * the fiber meanwhile (kill(), a Timeout, the timeout option) aborts the
   * request, then goes on.
   */
  #park(doing: string): void {
    const what = `${this.#label} (${doing})`;
    const waiter = new Waiter<void>();
    this.#waiters.push(waiter);
    let err: unknown;
    try {
      // An event that came just before the time ran out counts: the wait succeeded.
      if (parkOn(waiter, what, this.#timeout)) return;
      err = this.#timeoutError(doing);
    } catch (thrown) {
      err = thrown;
    }
    removeFrom(this.#waiters, waiter);
    this.abort(interrupted(this.#label, err));
    throw err;
  }

  #timeoutError(doing: string): TimeoutError {
    const err = new TimeoutError(this.#timeout!);
    err.message = `${this.#label}: nothing arrived for ${this.#timeout} ms while ${doing}; the request was aborted`;
    return err;
  }

  waitForResponse(): http.IncomingMessage {
    while (this.res === undefined) {
      if (this.#error !== undefined) {
        this.abort(this.#error);
        throw this.#error;
      }
      this.#park('waiting for the response');
    }
    return this.res;
  }

  /** The next piece of the body, or null at its end. */
  read(): Buffer | null {
    for (;;) {
      if (this.#closed) throw this.#error!;
      if (this.#ended) return null;
      if (this.#error !== undefined) throw this.#error;
      const chunk = this.res!.read() as Buffer | null;
      if (chunk !== null) return chunk;
      if (this.#ended) return null; // read() at the end of the data emits 'end' only later
      this.#park('reading the body');
    }
  }

  /** Ends the exchange now: destroys the response and the request, and with them the socket. */
  abort(reason: Error): void {
    this.#closed = true;
    this.#error ??= reason;
    collected.unregister(this);
    if (this.res !== undefined && !this.res.destroyed) this.res.destroy();
    if (!this.req.destroyed) this.req.destroy();
    this.#wakeAll();
  }

  /**
   * Frees the connection: a response whose body has fully arrived is drained
   * (so a keep-alive socket goes back to its agent); otherwise the socket is
   * destroyed, since unread data leaves it unusable.
   */
  close(): void {
    if (this.#closed || this.#ended) return;
    const closed = Object.assign(new Error(`cannot read the body of ${this.#label}: the response was closed`), { code: 'ERR_STREAM_DESTROYED' });
    const res = this.res;
    if (res !== undefined && res.complete && this.#error === undefined) {
      this.#closed = true;
      this.#error = closed;
      collected.unregister(this);
      res.removeAllListeners('readable');
      res.resume();
      this.#wakeAll();
      return;
    }
    this.abort(closed);
  }
}

/** A Response dropped before its body was read or closed: close its connection when it is collected. */
const collected = new FinalizationRegistry<Exchange>((exchange) => exchange.close());

/**
 * An HTTP response whose status line and headers have arrived. The body is
 * read by the fiber that wants it, and only as fast as that fiber reads:
 * Node buffers a little, then stops reading the socket.
 *
 * - `text()` (decoded with the Content-Type's charset, UTF-8 when it has none
 *   or one Node does not know), `json()`, `buffer()`: read the rest of the
 *   body; the body is kept, so they can be called again, in any mix.
 * - `read()`: the next piece as a Buffer, null at the end; `for (const chunk
 *   of res)` iterates the pieces and closes the response if the loop is left
 *   early. After read() has handed out a piece, text(), json() and buffer()
 *   throw (`ERR_BODY_CONSUMED`), since the whole body is no longer there.
 * - `close()` (also `destroy()` and `[Symbol.dispose]` for `using`): frees the
 *   connection without reading the rest. A body read to its end needs no
 *   close. A Response dropped unread holds its connection until it is
 *   garbage-collected, so close what you do not read.
 *
 * All body readers park the calling fiber (`ERR_BLOCKING_ON_ROOT` on the
 * root fiber). Responses are not decompressed (no Accept-Encoding is sent).
 */
export class Response implements Iterable<Buffer> {
  /** The status code: 200, 404, ... */
  readonly status: number;
  /** The reason phrase: 'OK', 'Not Found', ... */
  readonly statusText: string;
  /** Node's header object: names in lower case, repeated headers joined with ', ' (set-cookie: an array). */
  readonly headers: http.IncomingHttpHeaders;
  /** The URL of this response, after any redirects, without credentials. */
  readonly url: string;
  /** Whether a redirect was followed to get here. */
  readonly redirected: boolean;
  readonly #exchange: Exchange;
  #body: Buffer | undefined;
  #piecesRead = 0;

  /** Responses are made by request() and get(). */
  constructor(exchange: unknown, redirected: boolean) {
    if (!(exchange instanceof Exchange)) throw new TypeError('a Response is made by request() or get() from stackful/http, not by new Response()');
    const res = exchange.res!;
    this.#exchange = exchange;
    this.status = res.statusCode!;
    this.statusText = res.statusMessage ?? '';
    this.headers = res.headers;
    this.url = display(exchange.url);
    this.redirected = redirected;
    collected.register(this, exchange, exchange);
  }

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  /** The next piece of the body as a Buffer, or null at its end. */
  read(): Buffer | null {
    currentFiberFor(`read the body of ${this.#exchange}`);
    if (this.#body !== undefined) return null;
    const piece = this.#exchange.read();
    if (piece !== null) this.#piecesRead++;
    return piece;
  }

  /** The rest of the body as one Buffer (kept: later calls return it again). */
  buffer(): Buffer {
    currentFiberFor(`read the body of ${this.#exchange}`);
    if (this.#body !== undefined) return this.#body;
    if (this.#piecesRead > 0) {
      throw Object.assign(new Error(`cannot read the whole body of ${this.#exchange}: ${this.#piecesRead} piece(s) of it were already taken with read(); read the rest with read()`), {
        code: 'ERR_BODY_CONSUMED',
      });
    }
    const pieces: Buffer[] = [];
    for (let piece = this.#exchange.read(); piece !== null; piece = this.#exchange.read()) pieces.push(piece);
    this.#body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    return this.#body;
  }

  /** The body as text, decoded with the charset of Content-Type (UTF-8 when none or unknown). */
  text(): string {
    return decodeWithCharset(this.buffer(), this.headers['content-type']);
  }

  /** The body parsed as JSON (a SyntaxError when it is not JSON); `T` is taken on trust, unchecked. */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  /** The pieces of the body, as read() gives them; leaving the loop early closes the response. */
  *[Symbol.iterator](): Generator<Buffer, void, undefined> {
    let finished = false;
    try {
      for (let piece = this.read(); piece !== null; piece = this.read()) yield piece;
      finished = true;
    } finally {
      if (!finished) this.close();
    }
  }

  /**
   * Frees the connection without reading the rest of the body (a socket
   * whose body has already arrived in full is kept for reuse). Later reads
   * throw `ERR_STREAM_DESTROYED`. Does nothing once the body has been read.
   */
  close(): void {
    this.#exchange.close();
  }

  /** The same as close(). */
  destroy(): void {
    this.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `Response ${this.status} ${this.statusText} (${this.#exchange})`;
  }
}
