/**
 * Blocking-style request body readers: they park only the calling fiber
 * until the whole body has arrived, and refuse a body over `limit` bytes
 * (413) without keeping more than that in memory.
 */
import type * as http from 'node:http';
import { invalidArgType, outOfRange, RequestError } from '../core/errors.js';
import { currentFiberFor, Waiter } from '../hub/hub.js';
import { decodeWithCharset } from '../green/text.js';

export interface BodyOptions {
  /** The most bytes taken (default 1 MiB); a larger body throws RequestError ERR_BODY_TOO_LARGE (status 413). */
  limit?: number;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Bodies already read, so that readJson() after readBody() (or twice) gives the same bytes. */
const bodies = new WeakMap<http.IncomingMessage, Buffer>();

function checkRequest(req: unknown): http.IncomingMessage {
  if (req === null || typeof req !== 'object' || typeof (req as http.IncomingMessage).read !== 'function' || typeof (req as http.IncomingMessage).headers !== 'object') {
    throw invalidArgType('req', 'an http.IncomingMessage (the request a listener gets)', req);
  }
  return req as http.IncomingMessage;
}

function checkLimit(options: BodyOptions): number {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
  const { limit = DEFAULT_BODY_LIMIT } = options;
  if (typeof limit !== 'number') throw invalidArgType('limit', 'a number', limit);
  if (!Number.isInteger(limit) || limit < 0) throw outOfRange('limit', 'an integer >= 0 (bytes)', limit);
  return limit;
}

function tooLarge(req: http.IncomingMessage, limit: number, size: string): RequestError {
  return new RequestError('ERR_BODY_TOO_LARGE', 413, `the body of ${req.method} ${req.url} is ${size}, over the limit of ${limit} bytes; raise \`limit\` to accept it`);
}

/**
 * The whole request body as a Buffer. Parks the calling fiber until it has
 * arrived (ERR_BLOCKING_ON_ROOT on the root fiber). Throws RequestError:
 * ERR_BODY_TOO_LARGE (413) past `limit`, ERR_BODY_ABORTED (400) when the
 * client stops sending; and ERR_BODY_CONSUMED when something else (a body
 * parser, a 'data' listener) has already read from the request.
 */
export function readBody(req: http.IncomingMessage, options: BodyOptions = {}): Buffer {
  checkRequest(req);
  const limit = checkLimit(options);
  const cached = bodies.get(req);
  if (cached !== undefined) {
    if (cached.length > limit) throw tooLarge(req, limit, `${cached.length} bytes`);
    return cached;
  }
  currentFiberFor('read the body of', `${req.method} ${req.url}`);
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(req, limit, `${declared} bytes (its Content-Length)`);
  if (req.readableDidRead || req.readableEnded) {
    throw new RequestError('ERR_BODY_CONSUMED', 500, `cannot read the body of ${req.method} ${req.url}: something else has already read from the request (a body parser, a 'data' listener); read it one way only`);
  }
  const pieces: Buffer[] = [];
  let size = 0;
  let ended = false;
  let failure: Error | undefined;
  let waiter: Waiter<void> | undefined;
  const wake = (): void => waiter?.wake();
  const onEnd = (): void => {
    ended = true;
    wake();
  };
  const onError = (err: Error): void => {
    failure ??= err;
    wake();
  };
  const onClose = (): void => {
    if (!ended) failure ??= new Error('the connection closed');
    wake();
  };
  req.on('readable', wake);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('close', onClose);
  try {
    for (;;) {
      const piece = req.read() as Buffer | string | null;
      if (piece !== null) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
        size += bytes.length;
        if (size > limit) throw tooLarge(req, limit, `over ${size - bytes.length} bytes`);
        pieces.push(bytes);
        continue;
      }
      if (ended) break;
      if (failure !== undefined) {
        throw new RequestError('ERR_BODY_ABORTED', 400, `the client stopped sending the body of ${req.method} ${req.url} after ${size} bytes (${failure.message})`);
      }
      waiter = new Waiter<void>();
      waiter.wait(`readBody(${req.method} ${req.url})`);
      waiter = undefined;
    }
  } finally {
    waiter = undefined;
    req.off('readable', wake);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('close', onClose);
  }
  const body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size);
  bodies.set(req, body);
  return body;
}

/** The request body decoded as text with the charset of its Content-Type (UTF-8 when none or unknown); see readBody(). */
export function readText(req: http.IncomingMessage, options: BodyOptions = {}): string {
  return decodeWithCharset(readBody(req, options), req.headers['content-type']);
}

/** The request body parsed as JSON; RequestError ERR_BODY_INVALID_JSON (400) when it is not JSON (an empty body is not); see readBody(). */
export function readJson<T = any>(req: http.IncomingMessage, options: BodyOptions = {}): T {
  const text = readText(req, options);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    const why = text.trim() === '' ? 'it is empty' : (err as Error).message;
    throw new RequestError('ERR_BODY_INVALID_JSON', 400, `the body of ${req.method} ${req.url} is not JSON: ${why}`);
  }
}
