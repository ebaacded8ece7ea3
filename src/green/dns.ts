// Node's types come with the package (@types/node is a dependency): TypeScript 7 no longer
// loads @types/node unless asked, and these declarations use Buffer, node:http, ... (see
// test/types.test.ts). `preserve` keeps the directive in the emitted .d.ts.
/// <reference types="node" preserve="true" />
/**
 * stackful/dns: Node's `dns` module with blocking calls that park only the
 * calling fiber (gevent's green resolver, built on Node's own).
 *
 *   const dns = require('stackful/dns');
 *   spawn(() => {
 *     const { address, family } = dns.lookup('localhost');
 *     const mx = dns.resolveMx('example.com');
 *   });
 *
 * Each call starts Node's callback function (`dns.lookup`, `dns.resolve4`, or
 * the same method of a `dns.Resolver`) and parks the fiber until its callback
 * runs; the callback's results come back as the return value, and its error
 * is thrown. Results, errors (`ENOTFOUND`, `ECONNREFUSED`, `ETIMEOUT`, with
 * their `code`, `errno`, `syscall`, `hostname`) and argument checking
 * (`ERR_INVALID_ARG_TYPE`, ...) are therefore Node's own. On the root fiber
 * every call throws `FiberError` `ERR_BLOCKING_ON_ROOT` before anything starts.
 *
 * A fiber killed (or hit by a `Timeout`) while it waits stops waiting at once.
 * The query itself runs to its end, in c-ares (`resolve*`, `reverse`) or on
 * libuv's thread pool (`lookup`, `lookupService`: getaddrinfo cannot be
 * cancelled), and its answer is dropped. `Resolver#cancel()` ends every
 * query of that resolver at once (the waiting fibers get Node's `ECANCELLED`).
 *
 * Covered: what Node's dns has on every supported line (20 to 26). Not
 * covered: `resolveTlsa` (Node 22.15 and later only).
 */
import * as dns from 'node:dns';
import { currentFiberFor, Waiter } from '../hub/hub.js';

type Callback = (err: NodeJS.ErrnoException | null, ...results: unknown[]) => void;
type CallbackApi = Record<string, (...args: unknown[]) => void>;

/** The blocking query methods, shared by the module functions and `Resolver`. */
export interface ResolveMethods {
  /** Records of type `rrtype` (default `'A'`) for `hostname`, as `dns.resolve()` gives them. */
  resolve(hostname: string, rrtype?: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR'): string[];
  resolve(hostname: string, rrtype: 'ANY'): dns.AnyRecord[];
  resolve(hostname: string, rrtype: 'CAA'): dns.CaaRecord[];
  resolve(hostname: string, rrtype: 'MX'): dns.MxRecord[];
  resolve(hostname: string, rrtype: 'NAPTR'): dns.NaptrRecord[];
  resolve(hostname: string, rrtype: 'SOA'): dns.SoaRecord;
  resolve(hostname: string, rrtype: 'SRV'): dns.SrvRecord[];
  resolve(hostname: string, rrtype: 'TXT'): string[][];
  resolve(hostname: string, rrtype: string): unknown;
  /** IPv4 addresses; with `{ ttl: true }`, `{ address, ttl }` records. */
  resolve4(hostname: string): string[];
  resolve4(hostname: string, options: dns.ResolveWithTtlOptions): dns.RecordWithTtl[];
  resolve4(hostname: string, options: dns.ResolveOptions): string[] | dns.RecordWithTtl[];
  /** IPv6 addresses; with `{ ttl: true }`, `{ address, ttl }` records. */
  resolve6(hostname: string): string[];
  resolve6(hostname: string, options: dns.ResolveWithTtlOptions): dns.RecordWithTtl[];
  resolve6(hostname: string, options: dns.ResolveOptions): string[] | dns.RecordWithTtl[];
  resolveAny(hostname: string): dns.AnyRecord[];
  resolveCaa(hostname: string): dns.CaaRecord[];
  resolveCname(hostname: string): string[];
  resolveMx(hostname: string): dns.MxRecord[];
  resolveNaptr(hostname: string): dns.NaptrRecord[];
  resolveNs(hostname: string): string[];
  resolvePtr(hostname: string): string[];
  resolveSoa(hostname: string): dns.SoaRecord;
  resolveSrv(hostname: string): dns.SrvRecord[];
  /** Each TXT record as the array of its strings (`[['v=spf1 -all'], ['a', 'b']]`). */
  resolveTxt(hostname: string): string[][];
  /** The host names of an IPv4 or IPv6 address (a PTR query). */
  reverse(ip: string): string[];
}

/** The names of ResolveMethods: each is a method of Node's dns module and of dns.Resolver, with a callback last. */
export const RESOLVE_METHODS = [
  'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCaa', 'resolveCname', 'resolveMx',
  'resolveNaptr', 'resolveNs', 'resolvePtr', 'resolveSoa', 'resolveSrv', 'resolveTxt', 'reverse',
] as const satisfies ReadonlyArray<keyof ResolveMethods>;

/**
 * Calls `api[name](...args, callback)` and parks the calling fiber until the
 * callback runs: its first result (or all of them, with `all`) is returned,
 * its error thrown. Arguments are passed as given, so Node checks them.
 */
function call(label: string, api: CallbackApi, name: string, args: unknown[]): unknown[] {
  const what = `${label}${name}(${args.length > 0 ? JSON.stringify(args[0]) ?? String(args[0]) : ''})`;
  currentFiberFor(`wait for ${what}`);
  const waiter = new Waiter<unknown[]>();
  const callback: Callback = (err, ...results) => (err ? waiter.fail(err) : waiter.wake(results));
  api[name]!(...args, callback);
  return waiter.wait(what);
}

function method<K extends keyof ResolveMethods>(name: K): ResolveMethods[K] {
  const fn = (...args: unknown[]): unknown => call('dns.', dns as unknown as CallbackApi, name, args)[0];
  Object.defineProperty(fn, 'name', { value: name });
  return fn as ResolveMethods[K];
}

/**
 * Resolves `hostname` the way the operating system does (getaddrinfo, with
 * /etc/hosts), on libuv's thread pool: `{ address, family }`, or with
 * `{ all: true }` an array of them. `options` is dns.lookup's (a family
 * number, or `{ family, hints, all, order, verbatim }`).
 */
export function lookup(hostname: string, options: dns.LookupAllOptions): dns.LookupAddress[];
export function lookup(hostname: string, options?: dns.LookupOneOptions | number): dns.LookupAddress;
export function lookup(hostname: string, options: dns.LookupOptions): dns.LookupAddress | dns.LookupAddress[];
export function lookup(...args: unknown[]): dns.LookupAddress | dns.LookupAddress[] {
  const results = call('dns.', dns as unknown as CallbackApi, 'lookup', args);
  // The callback gets (err, addresses) with `all`, (err, address, family) without.
  if (results.length === 1 && Array.isArray(results[0])) return results[0] as dns.LookupAddress[];
  return { address: results[0] as string, family: results[1] as number };
}

/** The host name and service name of `address` and `port` (getnameinfo): `{ hostname, service }`. */
export function lookupService(address: string, port: number): { hostname: string; service: string } {
  const [hostname, service] = call('dns.', dns as unknown as CallbackApi, 'lookupService', [address, port]) as [string, string];
  return { hostname, service };
}

// The query functions ask the servers of Node's default resolver (see setServers()).
export const resolve = method('resolve');
export const resolve4 = method('resolve4');
export const resolve6 = method('resolve6');
export const resolveAny = method('resolveAny');
export const resolveCaa = method('resolveCaa');
export const resolveCname = method('resolveCname');
export const resolveMx = method('resolveMx');
export const resolveNaptr = method('resolveNaptr');
export const resolveNs = method('resolveNs');
export const resolvePtr = method('resolvePtr');
export const resolveSoa = method('resolveSoa');
export const resolveSrv = method('resolveSrv');
export const resolveTxt = method('resolveTxt');
export const reverse = method('reverse');

/** The servers the module functions query (Node's own, non-blocking). */
export const getServers: typeof dns.getServers = (...args) => dns.getServers(...args);
/** Sets the servers the module functions query (Node's own, non-blocking). */
export const setServers: typeof dns.setServers = (...args) => dns.setServers(...args);

/**
 * A resolver with servers of its own (Node's `dns.Resolver`, whose methods
 * here block the calling fiber). `options` is Node's: `{ timeout, tries,
 * maxTimeout }`, the per-try timeout in milliseconds and the tries per server.
 *
 *   const resolver = new Resolver({ timeout: 1000, tries: 2 });
 *   resolver.setServers(['127.0.0.1:5353']);
 *   resolver.resolve4('db.internal');   // parks this fiber only
 */
export class Resolver {
  readonly #resolver: dns.Resolver;

  constructor(options?: dns.ResolverOptions) {
    this.#resolver = new dns.Resolver(options);
  }

  /** The servers this resolver queries, as `'ip'` or `'ip:port'` strings. */
  getServers(): string[] {
    return this.#resolver.getServers();
  }

  /** Sets the servers this resolver queries (`'1.1.1.1'`, `'[::1]:53'`, `'127.0.0.1:5353'`). */
  setServers(servers: readonly string[]): void {
    this.#resolver.setServers(servers);
  }

  /** The local addresses queries are sent from. */
  setLocalAddress(ipv4?: string, ipv6?: string): void {
    this.#resolver.setLocalAddress(ipv4, ipv6);
  }

  /** Ends every outstanding query of this resolver: each waiting fiber gets Node's `ECANCELLED` error. */
  cancel(): void {
    this.#resolver.cancel();
  }

  static {
    for (const name of RESOLVE_METHODS) {
      const fn = function (this: Resolver, ...args: unknown[]): unknown {
        return call('Resolver#', this.#resolver as unknown as CallbackApi, name, args)[0];
      };
      Object.defineProperty(fn, 'name', { value: name });
      Object.defineProperty(Resolver.prototype, name, { value: fn, writable: true, configurable: true });
    }
  }
}
// The query methods, put on the prototype by the static block above.
export interface Resolver extends ResolveMethods {}
