/**
 * What `stackful serve` and the stackful/serve preload set up in a process
 * that runs an unchanged app: the IO hooks, one fiber per request for every
 * http / https server, graceful shutdown.
 */
import { ENV, type ServingKey } from '../core/settings.js';
import { patchAll } from '../patch/index.js';
import { DEFAULT_BACKLOG, DEFAULT_CONCURRENCY } from './dispatcher.js';
import { installServerHook } from './hook.js';
import { DEFAULT_GRACEFUL_TIMEOUT, installShutdown } from './process.js';

export interface ServingOptions {
  concurrency: number;
  backlog: number;
  timeout: number | undefined;
  gracefulTimeout: number;
  maxRequests: number | undefined;
}

/** Parses a whole number of at least `min`; the complaint as a string otherwise. */
export function parseCount(text: string, min: number): number | string {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) return `expected an integer >= ${min}, got ${JSON.stringify(text)}`;
  return n;
}

/** The options set in the environment (core/settings.ts reads it), with defaults; a one-line complaint when one is malformed. */
export function optionsFromEnv(env: Record<ServingKey, string | undefined>): ServingOptions | string {
  const read = (key: ServingKey, min: number): number | undefined | string => {
    const text = env[key];
    if (text === undefined) return undefined;
    const n = parseCount(text, min);
    return typeof n === 'string' ? `${ENV[key]}: ${n}` : n;
  };
  const concurrency = read('concurrency', 1);
  const backlog = read('backlog', 0);
  const timeout = read('timeout', 1);
  const gracefulTimeout = read('gracefulTimeout', 0);
  const maxRequests = read('maxRequests', 1);
  for (const value of [concurrency, backlog, timeout, gracefulTimeout, maxRequests]) if (typeof value === 'string') return value;
  return {
    concurrency: (concurrency as number | undefined) ?? DEFAULT_CONCURRENCY,
    backlog: (backlog as number | undefined) ?? DEFAULT_BACKLOG,
    timeout: timeout as number | undefined,
    gracefulTimeout: (gracefulTimeout as number | undefined) ?? DEFAULT_GRACEFUL_TIMEOUT,
    maxRequests: maxRequests as number | undefined,
  };
}

/** Installs everything; once per process. */
export function startServing(options: ServingOptions): void {
  patchAll();
  installServerHook({ concurrency: options.concurrency, backlog: options.backlog, timeout: options.timeout });
  installShutdown({ gracefulTimeout: options.gracefulTimeout, signals: true, maxRequests: options.maxRequests });
}
