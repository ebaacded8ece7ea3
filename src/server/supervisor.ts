/**
 * The cluster primary (gunicorn's arbiter): it serves nothing itself, it
 * keeps `workers` processes running.
 * - A worker that dies is replaced; one that dies young (within MIN_LIFE_MS)
 *   is replaced after a delay that doubles each time (up to MAX_DELAY_MS), so
 *   a crash loop does not spin. When no worker has ever started listening and
 *   they keep dying young, the primary gives up (gunicorn's "worker failed to
 *   boot").
 * - stop(deadline): every worker is told to stop gracefully (the stop
 *   message; they close their servers within the deadline), and killed
 *   with SIGKILL if still there GRACE_MS after it.
 * - reload(): as many new workers are started; once all of them listen, the
 *   old ones are stopped gracefully. If a new one dies before it listens, the
 *   reload is abandoned and the old workers go on serving.
 * An unchanged app's own listen(port) works in every worker: cluster shares
 * the port.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { ServerError } from '../core/errors.js';
import { DEFAULT_GRACEFUL_TIMEOUT, HEARTBEAT_MS, isAliveMessage, type StopMessage } from './process.js';

/** A worker that dies younger than this counts as a crash for the backoff. */
export const MIN_LIFE_MS = 5_000;
/** The longest wait before replacing a worker that died young. */
export const MAX_DELAY_MS = 10_000;
/** After a stop's deadline, what a worker gets to exit before SIGKILL. */
export const GRACE_MS = 2_000;
/** Young deaths in a row, with no worker ever listening, after which the primary gives up. */
export const BOOT_FAILURES = 5;

export interface SupervisorOptions {
  workers: number;
  /** The app to run in each worker (the CLI); default: this process's own script (serve() in it runs again in the worker). */
  exec?: string;
  args?: string[];
  execArgv?: string[];
  /** Extra environment for workers. */
  env?: Record<string, string>;
  /**
   * A worker silent this long (ms) is killed with SIGKILL and replaced: its
   * event loop is blocked. Default 30,000 (gunicorn's --timeout); 0: never.
   * Only workers that sent a heartbeat are watched (stackful's preload and
   * serve() send them).
   */
  workerTimeout?: number;
  /** What the old workers get to finish their requests on a reload, in ms (default 30,000). */
  gracefulTimeout?: number;
  /** Where the primary says what it does (default: stderr). */
  log?: (line: string) => void;
  /** Called once when the workers cannot start at all (see BOOT_FAILURES). */
  onGiveUp?: (reason: string) => void;
}

interface Member {
  worker: Worker;
  startedAt: number;
  listening: boolean;
  /** Told to stop: its exit is expected. */
  retiring: boolean;
  /** Started by a reload that is not complete yet. */
  reloading: boolean;
  /** When its last heartbeat came (undefined: none yet, not watched). */
  lastSeen: number | undefined;
}

export const DEFAULT_WORKER_TIMEOUT = 30_000;

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #members = new Map<number, Member>();
  readonly #log: (line: string) => void;
  #youngDeaths = 0;
  #everListened = false;
  #stopping: Promise<void> | undefined;
  #exited: Array<() => void> = [];
  #address: AddressInfo | string | null = null;
  #listeningWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  #gaveUp: Error | undefined;
  #pendingStarts = new Set<NodeJS.Timeout>();
  #reload: Set<Member> | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    if (options.exec !== undefined) {
      cluster.setupPrimary({ exec: options.exec, args: options.args ?? [], execArgv: options.execArgv ?? process.execArgv });
    }
  }

  start(): void {
    for (let i = 0; i < this.#options.workers; i++) this.#fork(false);
    const limit = this.#options.workerTimeout ?? DEFAULT_WORKER_TIMEOUT;
    if (limit > 0) setInterval(() => this.#watch(limit), Math.min(HEARTBEAT_MS, limit)).unref();
  }

  #watch(limit: number): void {
    const now = Date.now();
    for (const member of this.#members.values()) {
      if (member.lastSeen === undefined || member.worker.isDead() || now - member.lastSeen <= limit) continue;
      this.#log(`stackful: worker ${member.worker.process.pid} sent no heartbeat for ${now - member.lastSeen} ms (its event loop is blocked); killing it`);
      member.lastSeen = undefined; // once
      member.worker.process.kill('SIGKILL');
    }
  }

  /** The pids of the workers running now (retiring ones included). */
  pids(): number[] {
    return [...this.#members.values()].map((m) => m.worker.process.pid!).filter((pid) => pid !== undefined);
  }

  /** The address the first worker listened on (null until then). */
  address(): AddressInfo | string | null {
    return this.#address;
  }

  /** Resolves once some worker listens; rejects (ERR_WORKERS_FAILED) if the primary gives up first. */
  whenListening(): Promise<void> {
    if (this.#everListened) return Promise.resolve();
    if (this.#gaveUp !== undefined) return Promise.reject(this.#gaveUp);
    return new Promise((resolve, reject) => this.#listeningWaiters.push({ resolve, reject }));
  }

  #fork(reloading: boolean): Member {
    const worker = cluster.fork(this.#options.env);
    const member: Member = { worker, startedAt: Date.now(), listening: false, retiring: false, reloading, lastSeen: undefined };
    worker.on('message', (message: unknown) => {
      if (isAliveMessage(message)) member.lastSeen = Date.now();
    });
    this.#members.set(worker.id, member);
    worker.on('listening', (address: { address: string; port: number; addressType: number | string }) => this.#onListening(member, address));
    worker.on('exit', (code: number | null, signal: string | null) => this.#onExit(member, code, signal));
    // A worker that exits at once may close its channel mid-send: not ours to crash on.
    worker.on('error', () => {});
    return member;
  }

  #onListening(member: Member, address: { address: string; port: number; addressType: number | string }): void {
    member.listening = true;
    this.#youngDeaths = 0;
    if (this.#address === null) {
      this.#address = address.addressType === -1 || address.addressType === 'udp4' ? String(address.address) : { address: address.address, port: address.port, family: address.addressType === 6 ? 'IPv6' : 'IPv4' };
    }
    if (!this.#everListened) {
      this.#everListened = true;
      for (const { resolve } of this.#listeningWaiters.splice(0)) resolve();
    }
    const reload = this.#reload;
    if (reload !== undefined && member.reloading && [...reload].every((m) => m.listening)) {
      this.#reload = undefined;
      for (const m of reload) m.reloading = false;
      const old = [...this.#members.values()].filter((m) => !reload.has(m) && !m.retiring);
      this.#log(`stackful: reload: ${reload.size} new worker(s) listen; stopping the ${old.length} old one(s) gracefully`);
      for (const m of old) this.#retire(m, this.#graceful());
    }
  }

  #graceful(): number {
    return this.#options.gracefulTimeout ?? DEFAULT_GRACEFUL_TIMEOUT;
  }

  #onExit(member: Member, code: number | null, signal: string | null): void {
    this.#members.delete(member.worker.id);
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    if (this.#members.size === 0) for (const resolve of this.#exited.splice(0)) resolve();
    if (member.retiring || this.#stopping !== undefined) return;
    const pid = member.worker.process.pid;
    if (member.reloading && !member.listening) {
      // The new code does not start: keep the old workers.
      const reload = this.#reload!;
      this.#reload = undefined;
      for (const m of reload) if (m !== member) this.#retire(m, 0);
      this.#log(`stackful: reload abandoned: new worker ${pid} ${how} before it listened; the old workers go on serving`);
      return;
    }
    const young = Date.now() - member.startedAt < MIN_LIFE_MS;
    this.#youngDeaths = young ? this.#youngDeaths + 1 : 0;
    if (!this.#everListened && this.#youngDeaths >= BOOT_FAILURES) {
      const reason = `${BOOT_FAILURES} workers in a row died before any listened (the last one ${how})`;
      this.#log(`stackful: giving up: ${reason}`);
      this.#gaveUp = new ServerError('ERR_WORKERS_FAILED', `no worker could start: ${reason}; see what the workers printed on stderr`);
      for (const { reject } of this.#listeningWaiters.splice(0)) reject(this.#gaveUp);
      void this.stop(0).then(() => this.#options.onGiveUp?.(reason));
      return;
    }
    const delay = this.#youngDeaths === 0 ? 0 : Math.min(MAX_DELAY_MS, 100 * 2 ** (this.#youngDeaths - 1));
    this.#log(`stackful: worker ${pid} ${how}; starting another${delay > 0 ? ` in ${delay} ms` : ''}`);
    const timer = setTimeout(() => {
      this.#pendingStarts.delete(timer);
      if (this.#stopping === undefined) this.#fork(false);
    }, delay);
    this.#pendingStarts.add(timer);
  }

  #retire(member: Member, deadline: number): void {
    member.retiring = true;
    const message: StopMessage = { stackful: 'stop', deadline };
    try {
      if (member.worker.isConnected()) member.worker.send(message);
      else member.worker.process.kill('SIGTERM');
    } catch {
      member.worker.process.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      if (!member.worker.isDead()) member.worker.process.kill('SIGKILL');
    }, deadline + GRACE_MS);
    member.worker.once('exit', () => clearTimeout(timer));
  }

  /** Starts new workers; once they all listen, stops the old ones gracefully (SIGHUP). */
  reload(): void {
    if (this.#stopping !== undefined || this.#reload !== undefined) return;
    this.#log(`stackful: reload: starting ${this.#options.workers} new worker(s)`);
    this.#reload = new Set();
    for (let i = 0; i < this.#options.workers; i++) this.#reload.add(this.#fork(true));
  }

  /** Stops every worker within `deadline` ms (then SIGKILL); resolves when all have exited. A second call may shorten the deadline. */
  stop(deadline: number): Promise<void> {
    for (const timer of this.#pendingStarts) clearTimeout(timer);
    this.#pendingStarts.clear();
    for (const member of this.#members.values()) this.#retire(member, deadline);
    if (this.#stopping === undefined) {
      this.#stopping = this.#members.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#exited.push(resolve));
    }
    return this.#stopping;
  }

  /**
   * The primary's signals, for `stackful serve` and serve({ workers }):
   * SIGTERM / SIGINT stop every worker within `gracefulTimeout` ms (a second
   * one: at once) and then exit with code 0; SIGHUP reloads.
   */
  handleSignals(gracefulTimeout: number): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      let received = 0;
      process.on(signal, () => {
        received++;
        void this.stop(received === 1 ? gracefulTimeout : 0).then(() => process.exit(0));
      });
    }
    process.on('SIGHUP', () => this.reload());
  }
}
