import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The command that runs `process.execPath` in a child process. The arm64 step
 * of `npm test` runs arm64 Nodes under qemu-user, and no binfmt registration
 * makes the kernel do that by itself: STACKFUL_TEST_NODE_WRAPPER (the wrapper's
 * argv, space-separated, e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`) goes in
 * front of every child Node.
 */
export const NODE_WRAPPER: readonly string[] = (process.env.STACKFUL_TEST_NODE_WRAPPER ?? '').split(' ').filter(Boolean);

/** Whether this Node runs under an emulator (qemu-user), for the few tests that cannot. */
export const EMULATED = NODE_WRAPPER.length > 0;

/** [command, args] that run a child Node with `args`, through NODE_WRAPPER when there is one. */
export function nodeCommand(args: string[]): [string, string[]] {
  if (!EMULATED) return [process.execPath, args];
  return [NODE_WRAPPER[0]!, [...NODE_WRAPPER.slice(1), process.execPath, ...args]];
}

/**
 * Skips a test (or suite, from a `before` hook) under an emulator, printing
 * why: only for what qemu-user itself cannot do (e.g. measuring RSS).
 */
export function skipUnderEmulator(ctx: Mocha.Context, reason: string): void {
  if (!EMULATED) return;
  console.log(`      skipped under ${NODE_WRAPPER[0]}: ${reason}`);
  ctx.skip();
}

/**
 * Runs a script from test/crash/ in a fresh Node process: anything that could
 * take the process down (a bad switch, a GC on the wrong stack) runs there, and
 * the test asserts its exit code and what it printed.
 */
export function runChild(script: string, args: string[] = [], options: { nodeArgs?: string[]; timeoutMs?: number; env?: Record<string, string> } = {}): ChildResult {
  const [command, argv] = nodeCommand([...(options.nodeArgs ?? ['--expose-gc']), path.join(ROOT, 'test', 'crash', script), ...args]);
  const result = spawnSync(command, argv, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** The child's last stdout line, parsed as JSON (each crash script reports that way). */
export function report<T = any>(result: ChildResult): T {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export function describeChild(result: ChildResult): string {
  return `status=${result.status} signal=${result.signal}\nstdout:\n${result.stdout.slice(-2000)}\nstderr:\n${result.stderr.slice(-4000)}`;
}

/** The `code` of what `fn` throws, or undefined when it does not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/**
 * A self-signed certificate for 127.0.0.1, made offline with openssl (which
 * this machine and CI have), or undefined where openssl is missing.
 */
export function selfSignedCert(): { key: string; cert: string } | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'stackful-tls-'));
  try {
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
    ], { encoding: 'utf8' });
    if (made.status !== 0) return undefined;
    return { key: readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
