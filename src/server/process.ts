/**
 * Shutdown of a process that serves: what SIGTERM / SIGINT, the cluster
 * primary's stop message and --max-requests do (gunicorn's worker side).
 *
 * Everything that serves registers a closer; shutdown(deadline) runs them all
 * (each stops accepting, lets requests in flight finish and kills the rest at
 * the deadline), then the process exits with code 0, unless the app listens
 * for that signal itself: then the app decides when to exit.
 */
import cluster from 'node:cluster';

export type Closer = (deadline: number) => Promise<void>;

/** gunicorn's --graceful-timeout default. */
export const DEFAULT_GRACEFUL_TIMEOUT = 30_000;

/** The message a cluster primary sends a worker to stop it gracefully. */
export interface StopMessage {
  stackful: 'stop';
  deadline: number;
}

/** What a worker sends its primary every HEARTBEAT_MS while its event loop turns. */
export interface AliveMessage {
  stackful: 'alive';
}

export const HEARTBEAT_MS = 1_000;

export function isAliveMessage(message: unknown): message is AliveMessage {
  return message !== null && typeof message === 'object' && (message as AliveMessage).stackful === 'alive';
}

export function isStopMessage(message: unknown): message is StopMessage {
  return message !== null && typeof message === 'object' && (message as StopMessage).stackful === 'stop' && typeof (message as StopMessage).deadline === 'number';
}

const closers = new Set<Closer>();
let shuttingDown: Promise<void> | undefined;
let shortenedTo: number | undefined;
let gracefulTimeout = DEFAULT_GRACEFUL_TIMEOUT;
let maxRequests: number | undefined;
let handled = 0;
let installed = false;

/** Adds something to close at shutdown; returns the function that removes it. */
export function onShutdown(closer: Closer): () => void {
  closers.add(closer);
  return () => closers.delete(closer);
}

/** Closes everything registered, within `deadline` ms; a second call with a shorter deadline hurries the first. */
export function shutdown(deadline: number): Promise<void> {
  if (shuttingDown !== undefined) {
    if (shortenedTo === undefined || deadline < shortenedTo) {
      shortenedTo = deadline;
      for (const close of closers) void close(deadline); // each closer keeps the earliest deadline
    }
    return shuttingDown;
  }
  shortenedTo = deadline;
  shuttingDown = Promise.all([...closers].map((close) => close(deadline))).then(() => undefined);
  return shuttingDown;
}

/** Counts one handled request: past --max-requests, a cluster worker stops gracefully and its primary starts another. */
export function countRequest(): void {
  handled++;
  if (maxRequests !== undefined && handled === maxRequests) void shutdown(gracefulTimeout).then(() => process.exit(0));
}

export interface ShutdownOptions {
  /** What SIGTERM / SIGINT allow requests in flight, in ms. */
  gracefulTimeout?: number;
  /** Install the SIGTERM / SIGINT handlers. */
  signals?: boolean;
  /** Requests a cluster worker handles before it restarts (gunicorn's --max-requests); ignored outside a cluster worker. */
  maxRequests?: number;
}

/**
 * Makes this process shut down gracefully on SIGTERM and SIGINT (a second one
 * of the same kind gives the requests left no more time), and, in a cluster
 * worker, on the primary's stop message. Once per process; later calls only
 * add what the first did not set.
 */
export function installShutdown(options: ShutdownOptions): void {
  if (options.gracefulTimeout !== undefined) gracefulTimeout = options.gracefulTimeout;
  if (options.maxRequests !== undefined && cluster.isWorker) maxRequests = options.maxRequests;
  if (installed || options.signals === false) return;
  installed = true;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    let received = 0;
    const onSignal = (): void => {
      received++;
      // Another listener than ours: the app has its own plans for this signal.
      const appListens = process.listenerCount(signal) > 1;
      void shutdown(received === 1 ? gracefulTimeout : 0).then(() => {
        if (!appListens) process.exit(0);
      });
    };
    process.on(signal, onSignal);
  }
  if (cluster.isWorker) {
    process.on('message', (message: unknown) => {
      if (isStopMessage(message)) void shutdown(message.deadline).then(() => process.exit(0));
    });
    // The primary kills a worker that stays silent past its worker timeout: an
    // event loop blocked (a handler spinning on the CPU) can never be unblocked
    // from inside (gunicorn's worker timeout).
    const alive: AliveMessage = { stackful: 'alive' };
    const beat = (): void => {
      if (process.connected) process.send!(alive);
    };
    beat();
    setInterval(beat, HEARTBEAT_MS).unref();
  }
}
