/**
 * Green child processes. Node's execSync, execFileSync and spawnSync all end
 * in one native call, `spawn_sync.spawn(options)`, after Node has checked and
 * normalized their arguments; Node also turns its raw result into return
 * values and errors. stackful replaces only that native call: inside a fiber
 * it runs the same command with the asynchronous spawn and parks the calling
 * fiber until the child has exited, then hands back the raw result in the
 * same shape, so every return value, encoding and error (status, signal,
 * stdout, stderr, code, errno, syscall, path, spawnargs) is Node's own. On the
 * root fiber the native call is Node's, untouched.
 *
 * A fiber killed while it waits stops waiting, and the child is killed with
 * the command's killSignal.
 */
import { spawn as spawnAsync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import { mayPark } from '../core/guard.js';
import { Waiter } from '../hub/hub.js';

interface SyncStdio {
  type: 'pipe' | 'ignore' | 'inherit' | 'fd' | string;
  fd?: number;
  readable?: boolean;
  writable?: boolean;
  input?: ArrayBufferView;
}

/** What Node hands spawn_sync.spawn() (lib/child_process.js, after normalization). */
interface SyncOptions {
  file: string;
  args: string[];
  cwd?: string;
  envPairs: string[];
  stdio: SyncStdio[];
  detached?: boolean;
  windowsHide?: boolean;
  windowsVerbatimArguments?: boolean;
  timeout?: number;
  maxBuffer?: number;
  killSignal?: number | string;
}

/** What spawn_sync.spawn() returns. */
interface SyncResult {
  pid: number;
  status: number | null;
  signal: string | null;
  output: Array<Buffer | null> | null;
  error?: number;
}

const errno = constants.errno as Record<string, number>;

function envOf(pairs: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function stdioOf(stdio: SyncStdio[]): StdioOptions {
  return stdio.map((s) => {
    if (s.type === 'pipe') return 'pipe';
    if (s.type === 'ignore') return 'ignore';
    if (typeof s.fd === 'number') return s.fd;
    return 'inherit';
  });
}

function signalName(signal: number | string | undefined): NodeJS.Signals {
  if (typeof signal === 'string') return signal as NodeJS.Signals;
  if (typeof signal === 'number') {
    for (const [name, value] of Object.entries(constants.signals)) if (value === signal) return name as NodeJS.Signals;
  }
  return 'SIGTERM';
}

/** The green replacement of spawn_sync.spawn(options). */
export function greenSpawnSync(original: (options: SyncOptions) => SyncResult): (options: SyncOptions) => SyncResult {
  return function spawn(this: unknown, options: SyncOptions): SyncResult {
    if (!mayPark()) return original.call(this, options);
    const killSignal = signalName(options.killSignal);
    const maxBuffer = options.maxBuffer ?? Infinity;
    let child: ChildProcess;
    try {
      child = spawnAsync(options.file, options.args.slice(1), {
        argv0: options.args[0],
        cwd: options.cwd,
        env: envOf(options.envPairs),
        stdio: stdioOf(options.stdio),
        detached: options.detached,
        windowsHide: options.windowsHide,
        windowsVerbatimArguments: options.windowsVerbatimArguments,
      });
    } catch (err) {
      return { pid: 0, status: null, signal: null, output: null, error: (err as NodeJS.ErrnoException).errno ?? -errno.EINVAL! };
    }
    const waiter = new Waiter<SyncResult>();
    const chunks: Array<Buffer[] | null> = options.stdio.map((s, i) => (i > 0 && s.type === 'pipe' ? [] : null));
    let buffered = 0;
    let error: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    // Like spawnSync (SyncProcessRunner::Kill in Node): past the timeout or
    // maxBuffer, the child is sent killSignal and this side of every pipe is
    // closed at once, so the call returns as soon as the child itself exits,
    // even while a grandchild (`sleep 5 & wait`) still holds the pipes; output
    // stops at the chunk that went over. The status and signal reported are
    // how the child really ended (a child that traps killSignal and then
    // writes dies of SIGPIPE, as on the root).
    const stop = (code: number): void => {
      if (error !== undefined) return;
      error = -code;
      if (timer !== undefined) clearTimeout(timer);
      child.kill(killSignal);
      for (const stream of child.stdio) stream?.destroy();
    };
    child.stdio.forEach((stream, i) => {
      const sink = chunks[i];
      if (stream === null || stream === undefined || sink === null || sink === undefined) return;
      stream.on('data', (chunk: Buffer) => {
        if (error !== undefined) return;
        sink.push(chunk);
        buffered += chunk.length;
        if (buffered > maxBuffer) stop(errno.ENOBUFS!);
      });
    });
    const stdin = child.stdin;
    if (stdin !== null) {
      stdin.on('error', () => {}); // the child may exit before reading all of it, as with spawnSync
      const input = options.stdio[0]?.input;
      if (input !== undefined) stdin.end(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
      else stdin.end();
    }
    if (options.timeout !== undefined && options.timeout > 0) timer = setTimeout(() => stop(errno.ETIMEDOUT!), options.timeout);
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer !== undefined) clearTimeout(timer);
      waiter.wake({ pid: child.pid ?? 0, status: null, signal: null, output: null, error: err.errno ?? -errno.EINVAL! });
    });
    child.on('close', (status: number | null, signal: NodeJS.Signals | null) => {
      if (timer !== undefined) clearTimeout(timer);
      const output = chunks.map((c) => (c === null ? null : Buffer.concat(c)));
      const result: SyncResult = { pid: child.pid ?? 0, status, signal, output };
      if (error !== undefined) result.error = error;
      waiter.wake(result);
    });
    try {
      return waiter.wait(`child_process (${options.file})`);
    } finally {
      if (!waiter.settled) {
        // Killed while waiting: the child goes too.
        if (timer !== undefined) clearTimeout(timer);
        child.kill(killSignal);
      }
    }
  };
}
