/**
 * server: HTTP requests per second and latency, served three ways, with
 * autocannon (as a library, in this process) on 127.0.0.1.
 *
 * One operation: one HTTP request answered with 200. Every server runs in a
 * child process of its own, and so does the upstream (examples/server/
 * upstream.js, which answers every request after 20 ms), so the load
 * generator, the server and the upstream each have a process; on a 2-core
 * machine they share the two cores, which is the ceiling for every row.
 *
 * Comparisons (one job, that is one fresh process, each):
 * - unchanged: the Express app of examples/server/app.js, route /upstream,
 *   which calls the upstream with sync-request (it blocks through spawnSync),
 *   served by `stackful serve` against plain `node app.js`; 100 connections.
 * - handler: a blocking-style handler calling the upstream with
 *   stackful/http's get() (bench/server/fiber-handler.js, `stackful serve`)
 *   against the same handler with async/await (bench/server/async-handler.js,
 *   plain node); both on a keep-alive agent; 100 and 1,000 connections.
 * - gevent: the fiber handler against the same handler on gevent (pywsgi,
 *   http.client made cooperative by monkey.patch_all(); bench/server/
 *   gevent_handler.py, run with /usr/bin/python3 or BENCH_PYTHON), the
 *   Python server this project follows; 100 connections; left out where
 *   gevent cannot be imported.
 * - workers: a CPU-bound route (bench/server/cpu.js, a million xorshift steps,
 *   about 2 ms of CPU per request here) under `stackful serve --workers 2` against `--workers 1`;
 *   100 connections.
 *
 * Each server is checked first: one request must answer 200 with the body the
 * comparison expects (the two sides of a comparison answer alike), so neither
 * can quietly do less; where an upstream is called, its request count must
 * grow by at least the responses counted in each run. Then each is warmed up,
 * then the runs alternate between the two (3 runs of 5 s, 1 of 2 s with
 * --quick). Reported per run: 2xx responses per second, p50 and p99 latency.
 */
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Context } from '../lib/harness.js';
import type { CaseAbout, JobParams, Mode } from '../lib/types.js';
import { descendants } from '../lib/proc.js';

export const about: CaseAbout = {
  title: 'HTTP serving: a fiber per request vs async/await vs blocking',
  operation: 'one HTTP request answered 200 (autocannon on 127.0.0.1; the upstream answers after 20 ms)',
};

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'server', 'cli.js');
const UPSTREAM = path.join(ROOT, 'examples', 'server', 'upstream.js');
const APPS = path.join(ROOT, 'bench', 'server');
const UPSTREAM_DELAY_MS = 20;

interface Side {
  /** The column: an implementation name known to bench/lib/impls.ts. */
  impl: string;
  /** What follows the command on the command line. */
  args: string[];
  /** The program to run: this Node unless given (gevent's side runs Python). */
  command?: string;
  /** How many "listening on" lines mean it is ready (one per worker). */
  listeners?: number;
}

interface Comparison {
  label: string;
  /** The request path autocannon sends. */
  path: string;
  needsUpstream: boolean;
  /** A command the server runs, looked for on the PATH: without it the job is left out, with a note. */
  requires?: string;
  /** Whether the job can run here (a Python module present, ...); a reason to leave it out, or undefined. */
  unavailable?: () => string | undefined;
  /** The two sides: the first is divided by the second in the ratio note. */
  sides: [Side, Side];
  /** What the first response must be: the same for both sides. */
  expect(body: string): boolean;
  /** The target of the issue, in words, and the test of the ratio of req/s; none for a reference row. */
  target?: { text: string; met(ratio: number, p99Ratio: number): boolean };
}

/** The Python that runs gevent's side (BENCH_PYTHON, as for the greenlet column of ping-pong). */
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

function pythonHas(module: string): boolean {
  return spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

const upstreamBody = (body: string): boolean => {
  try {
    const json = JSON.parse(body) as { status?: number; upstream?: { service?: string; delay?: number } };
    return json.status === 200 && json.upstream?.service === 'upstream' && json.upstream.delay === UPSTREAM_DELAY_MS;
  } catch {
    return false;
  }
};

const COMPARISONS: Record<string, Comparison> = {
  unchanged: {
    label: 'unchanged Express app, sync-request to the upstream',
    path: '/upstream',
    needsUpstream: true,
    sides: [
      { impl: 'serve', args: [CLI, 'serve', path.join(ROOT, 'examples', 'server', 'app.js')] },
      { impl: 'node', args: [path.join(ROOT, 'examples', 'server', 'app.js')] },
    ],
    expect: upstreamBody,
    target: { text: 'stackful serve ≥ 20× the req/s of plain node', met: (r) => r >= 20 },
  },
  'unchanged-curl': {
    label: 'unchanged app, execSync(curl) to the upstream',
    path: '/',
    needsUpstream: true,
    requires: 'curl',
    sides: [
      { impl: 'serve', args: [CLI, 'serve', path.join(APPS, 'blocking-exec.js')] },
      { impl: 'node', args: [path.join(APPS, 'blocking-exec.js')] },
    ],
    expect: upstreamBody,
    target: { text: 'stackful serve ≥ 20× the req/s of plain node', met: (r) => r >= 20 },
  },
  handler: {
    label: 'handler calling the upstream',
    path: '/',
    needsUpstream: true,
    sides: [
      { impl: 'serve', args: [CLI, 'serve', path.join(APPS, 'fiber-handler.js')] },
      { impl: 'async', args: [path.join(APPS, 'async-handler.js')] },
    ],
    expect: upstreamBody,
    target: { text: 'the fiber handler ≥ 90% of the req/s of async/await, p99 ≤ 1.2×', met: (r, p99) => r >= 0.9 && p99 <= 1.2 },
  },
  gevent: {
    label: 'handler calling the upstream, against gevent',
    path: '/',
    needsUpstream: true,
    unavailable: () => (pythonHas('gevent') ? undefined : `${PYTHON} cannot import gevent (Debian: apt-get install python3-gevent)`),
    sides: [
      { impl: 'serve', args: [CLI, 'serve', path.join(APPS, 'fiber-handler.js')] },
      { impl: 'gevent', command: PYTHON, args: [path.join(APPS, 'gevent_handler.py')] },
    ],
    expect: upstreamBody,
  },
  workers: {
    label: 'CPU-bound route (a million xorshift steps per request)',
    path: '/',
    needsUpstream: false,
    sides: [
      { impl: 'serve.workers2', args: [CLI, 'serve', path.join(APPS, 'cpu.js'), '--workers', '2'], listeners: 2 },
      { impl: 'serve', args: [CLI, 'serve', path.join(APPS, 'cpu.js'), '--workers', '1'] },
    ],
    expect: (body) => /^\d+$/.test(body),
    target: { text: '--workers 2 ≥ 1.6× the req/s of --workers 1', met: (r) => r >= 1.6 },
  },
};

/** One process per comparison and connection count, in the order the rows are shown. */
export function jobs(_mode: Mode): JobParams[] {
  return [
    { comparison: 'unchanged', connections: 100 },
    { comparison: 'unchanged-curl', connections: 100 },
    { comparison: 'handler', connections: 100 },
    { comparison: 'handler', connections: 1000 },
    { comparison: 'gevent', connections: 100 },
    { comparison: 'workers', connections: 100 },
  ];
}

// ---------------------------------------------------------------------------
// Child processes

interface Running {
  child: ChildProcess;
  output: string;
  port: number;
}

const started: ChildProcess[] = [];

/** Starts `command args` (this Node by default) and waits (60 s at most) for `listeners` lines "listening on http://127.0.0.1:PORT". */
async function startProcess(name: string, args: string[], env: Record<string, string>, listeners = 1, command = process.execPath): Promise<Running> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  const running: Running = { child, output: '', port: 0 };
  child.stdout!.on('data', (piece) => (running.output += piece));
  child.stderr!.on('data', (piece) => (running.output += piece));
  const ports = (): number[] => [...running.output.matchAll(/listening on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  for (const start = Date.now(); ports().length < listeners; ) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server: ${name} exited before listening:\n${running.output.slice(-2000)}`);
    if (Date.now() - start > 60_000) throw new Error(`server: ${name} was not listening after 60 s:\n${running.output.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  running.port = ports()[0]!;
  return running;
}

/**
 * SIGTERM, then SIGKILL after 10 s; then SIGKILL to what they had started
 * and left behind: plain node killed by a signal runs no exit handler, so
 * sync-request's helper process (sync-rpc's worker) would outlive the app.
 * Every process this job started is gone when it ends.
 */
async function stopAll(): Promise<void> {
  await Promise.all(
    started.splice(0).map(async (child) => {
      const family = child.pid === undefined ? [] : descendants(child.pid);
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.on('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        });
      }
      for (const pid of family) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // it ended with its parent
        }
      }
      child.stdout?.destroy();
      child.stderr?.destroy();
    }),
  );
}

function getText(port: number, urlPath: string, timeoutMs = 60_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(pieces).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`server: no answer to ${urlPath} in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

async function upstreamRequests(port: number): Promise<number> {
  return (JSON.parse((await getText(port, '/stats')).body) as { requests: number }).requests;
}

// ---------------------------------------------------------------------------
// Load

interface Run {
  reqPerSec: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  /** CPU time of the server's processes during the run, per response, in µs. */
  serverCpu?: number;
  /** CPU time of autocannon (this process) and of the upstream during the run, per response, in µs. */
  loadCpu?: number;
  /** Cores kept busy during the run: by this case's processes (server, upstream, autocannon), and by anything on the machine. */
  ourCores?: number;
  machineCores?: number;
}

/** Busy and total CPU time of the whole machine so far, in clock ticks (the first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total }; // less idle and iowait
}

/** Clock ticks per second, the unit of CPU times in /proc/<pid>/stat. */
const CLOCK_TICKS = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/**
 * CPU time used so far, in µs, by `pid` and every process below it (cluster
 * workers, sync-rpc's worker), with what its finished children used (the
 * curl or node that execSync / spawnSync started, once reaped).
 */
function cpuMicros(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    } catch {
      // gone meanwhile
    }
  }
  return (ticks / CLOCK_TICKS) * 1e6;
}

function ownCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

async function load(port: number, urlPath: string, connections: number, seconds: number): Promise<Run> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${urlPath}`,
    connections,
    duration: seconds,
    timeout: 30,
  });
  const ok = result['2xx'];
  return {
    reqPerSec: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Waits until a server has worked off what the last run left it. autocannon
 * stops at the end of its time and closes its connections, but a server
 * that handles one request at a time (plain node running a blocking app) has
 * read the requests that were waiting and still runs each of them, spawning
 * a process per sync-request call: the next run would share the CPU with
 * that backlog. One more request, answered after all of them, says it is
 * done (2 minutes at most).
 */
async function drain(server: Running, urlPath: string): Promise<void> {
  const reply = await getText(server.port, urlPath, 120_000);
  if (reply.status !== 200) throw new Error(`server: after a run, ${urlPath} answered ${reply.status} ${reply.body.slice(0, 300)}`);
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && fs.existsSync(path.join(dir, command)));
}

function ratioText(r: number): string {
  return `${r >= 10 ? Math.round(r) : r.toFixed(2)}×`;
}

export async function measure(ctx: Context, params: JobParams): Promise<void> {
  const comparison = COMPARISONS[String(params.comparison)];
  if (comparison === undefined) throw new Error(`server: no comparison ${JSON.stringify(params.comparison)}; there are ${Object.keys(COMPARISONS).join(', ')}`);
  const connections = Number(params.connections);
  const seconds = ctx.pick(2, 5);
  const warmUp = ctx.pick(1, 2);
  const runs = ctx.pick(1, 3);
  const row = `${comparison.label}, ${connections.toLocaleString('en-US')} connections`;
  if (comparison.requires !== undefined && !onPath(comparison.requires)) {
    ctx.note(`${row}: left out, ${comparison.requires} is not installed`);
    return;
  }
  const unavailable = comparison.unavailable?.();
  if (unavailable !== undefined) {
    ctx.note(`${row}: left out, ${unavailable}`);
    return;
  }
  const order = Object.keys(COMPARISONS).indexOf(String(params.comparison)) * 10_000 + connections;
  try {
    const env: Record<string, string> = { PORT: '0' };
    let upstreamPort: number | undefined;
    let upstream: Running | undefined;
    if (comparison.needsUpstream) {
      upstream = await startProcess('the upstream', [UPSTREAM, '--port', '0', '--delay', String(UPSTREAM_DELAY_MS)], {});
      upstreamPort = upstream.port;
      env.UPSTREAM_URL = `http://127.0.0.1:${upstreamPort}`;
    }
    const servers: Record<string, Running> = {};
    for (const side of comparison.sides) {
      const server = await startProcess(side.impl, side.args, env, side.listeners, side.command);
      const first = await getText(server.port, comparison.path);
      if (first.status !== 200 || !comparison.expect(first.body)) {
        throw new Error(`server: ${side.impl} (${side.args.map((a) => path.relative(ROOT, a) || a).join(' ')}) answered ${first.status} ${first.body.slice(0, 300)}`);
      }
      servers[side.impl] = server;
    }
    for (const side of comparison.sides) {
      await load(servers[side.impl]!.port, comparison.path, connections, warmUp);
      await drain(servers[side.impl]!, comparison.path);
    }

    const samples: Record<string, Run[]> = {};
    for (let r = 0; r < runs; r++) {
      for (let k = 0; k < 2; k++) {
        const side = comparison.sides[(r + k) % 2]!;
        const before = upstreamPort === undefined ? 0 : await upstreamRequests(upstreamPort);
        const server = servers[side.impl]!;
        const cpu = { server: cpuMicros(server.child.pid!), load: ownCpuMicros() + (upstream ? cpuMicros(upstream.child.pid!) : 0) };
        const machine = machineTicks();
        const wall = performance.now();
        const run = await load(server.port, comparison.path, connections, seconds);
        const elapsedMicros = (performance.now() - wall) * 1e3;
        const machineAfter = machineTicks();
        const serverCpu = cpuMicros(server.child.pid!) - cpu.server;
        const loadCpu = ownCpuMicros() + (upstream ? cpuMicros(upstream.child.pid!) : 0) - cpu.load;
        run.ourCores = (serverCpu + loadCpu) / elapsedMicros;
        run.machineCores = ((machineAfter.busy - machine.busy) / CLOCK_TICKS) * 1e6 / elapsedMicros;
        if (run.ok > 0) {
          run.serverCpu = serverCpu / run.ok;
          run.loadCpu = loadCpu / run.ok;
        }
        await drain(servers[side.impl]!, comparison.path);
        if (upstreamPort !== undefined) {
          const calls = (await upstreamRequests(upstreamPort)) - before;
          if (calls < run.ok) throw new Error(`server: ${side.impl} answered ${run.ok} requests but the upstream saw only ${calls} calls: it did not do the work`);
        }
        (samples[side.impl] ??= []).push(run);
      }
    }

    for (const side of comparison.sides) {
      const list = samples[side.impl]!;
      const failed = list.reduce((n, run) => n + run.failed, 0);
      const note = failed > 0 ? `${failed.toLocaleString('en-US')} non-2xx, errors or timeouts` : undefined;
      const ops = list.reduce((n, run) => n + run.ok, 0);
      ctx.record({ row: `${row}: requests per second`, unit: 'req/s', impl: side.impl, samples: list.map((x) => x.reqPerSec), ops, order, ...(note ? { note } : {}) });
      ctx.record({ row: `${row}: p50 latency`, unit: 'ms', impl: side.impl, samples: list.map((x) => x.p50), ops, order: order + 1, chart: false });
      ctx.record({ row: `${row}: p99 latency`, unit: 'ms', impl: side.impl, samples: list.map((x) => x.p99), ops, order: order + 2, chart: false });
      // Where the time goes: the server, autocannon and the upstream share the cores, so CPU per request bounds req/s.
      const served = list.filter((x) => x.serverCpu !== undefined);
      if (served.length > 0) {
        ctx.record({ row: `${row}: CPU per response, server processes`, unit: 'µs', impl: side.impl, samples: served.map((x) => x.serverCpu!), order: order + 3, chart: false });
        ctx.record({ row: `${row}: CPU per response, autocannon + upstream`, unit: 'µs', impl: side.impl, samples: served.map((x) => x.loadCpu!), order: order + 4, chart: false });
      }
    }
    const median = (impl: string, key: 'reqPerSec' | 'p99'): number => {
      const sorted = samples[impl]!.map((x) => x[key]).sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    const cores = (impl: string, key: 'ourCores' | 'machineCores'): string => {
      const sorted = samples[impl]!.map((x) => x[key]!).sort((x, y) => x - y);
      return sorted[Math.floor(sorted.length / 2)]!.toFixed(2);
    };
    ctx.note(
      `${row}: cores busy during a run (median), this case's processes / the whole machine: ` +
        comparison.sides.map((side) => `${side.impl} ${cores(side.impl, 'ourCores')} / ${cores(side.impl, 'machineCores')}`).join(', ') +
        ` of ${os.cpus().length}`,
    );
    const [a, b] = comparison.sides;
    const ratio = median(a.impl, 'reqPerSec') / median(b.impl, 'reqPerSec');
    const p99Ratio = median(a.impl, 'p99') / median(b.impl, 'p99');
    ctx.note(
      `${row}: ${a.impl} ÷ ${b.impl} = ${ratioText(ratio)} the req/s, ${ratioText(p99Ratio)} the p99 latency; ` +
        (comparison.target === undefined
          ? 'a reference row (no target)'
          : `target: ${comparison.target.text} (${comparison.target.met(ratio, p99Ratio) ? 'met' : 'not met'} here)`),
    );
  } finally {
    await stopAll();
  }
  ctx.note(`autocannon, the server under test and the upstream are processes of their own, sharing this machine's ${os.cpus().length} cores`);
}
