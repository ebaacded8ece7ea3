/**
 * examples/server/: the Express app written in blocking style, served
 * unchanged by the real command line (`node dist/server/cli.js serve app.js`), and
 * the same routes written with async/await under plain node. Both are hit on
 * every route by a real client and must answer alike; the blocking one must
 * overlap its upstream calls (counted at the upstream, not timed) and exit
 * with code 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as path from 'node:path';
import { ROOT } from './helpers';
import { descendants } from '../bench/lib/proc';

const EXAMPLE = path.join(ROOT, 'examples', 'server');
const CLI = path.join(ROOT, 'dist', 'server', 'cli.js');

interface Running {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];

function run(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (piece) => (output += piece));
  child.stderr!.on('data', (piece) => (output += piece));
  return { child, output: () => output, exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))) };
}

/** Waits (60 s at most) for `count` lines saying "... listening on http://127.0.0.1:PORT"; returns the ports. */
async function listening(running: Running, count = 1): Promise<number[]> {
  const ports = (): number[] => [...running.output().matchAll(/listening on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  for (const start = Date.now(); ports().length < count; ) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) assert.fail(`exited before listening:\n${running.output()}`);
    if (Date.now() - start > 60_000) assert.fail(`not listening after 60 s:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return ports();
}

interface Reply {
  status: number;
  type: string;
  body: string;
}

/** One GET on a connection of its own; fails after 60 s instead of hanging. */
function get(port: number, urlPath: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 60_000 }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: Buffer.concat(pieces).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${urlPath} in 60 s`)));
    req.on('error', reject);
  });
}

/** What every route must answer, whichever way the app is written. */
function expected(): Record<string, { type: RegExp; body: unknown }> {
  return {
    '/?name=<Fibers>': {
      type: /^text\/html/,
      body: '<!doctype html>\n<html>\n  <head><title>stackful example</title></head>\n  <body><h1>Hello, &#60;Fibers&#62;!</h1></body>\n</html>\n',
    },
    '/hash?password=hunter2': {
      type: /^application\/json/,
      body: { scrypt: crypto.scryptSync('hunter2', 'example-salt', 32).toString('hex') },
    },
    '/upstream': { type: /^application\/json/, body: { status: 200, upstream: { service: 'upstream', path: '/data', delay: 20 } } },
    '/exec': { type: /^application\/json/, body: { stdout: 'child process done' } },
  };
}

async function checkRoutes(port: number): Promise<void> {
  for (const [route, want] of Object.entries(expected())) {
    const reply = await get(port, route.replace('<', '%3C').replace('>', '%3E'));
    assert.equal(reply.status, 200, `${route}: ${reply.body}`);
    assert.match(reply.type, want.type, route);
    if (typeof want.body === 'string') assert.equal(reply.body, want.body, route);
    else assert.deepEqual(JSON.parse(reply.body), want.body, route);
  }
}

const OVERLAP = 5;

/**
 * Starts the upstream holding each request until OVERLAP are in flight at
 * once (or 10 s have passed), and the app against it; sends OVERLAP requests
 * to /upstream at once: the upstream's count says whether they overlapped.
 */
async function overlapAtUpstream(appArgs: string[], workers = 1): Promise<{ app: Running; port: number; mostInFlight: number }> {
  const upstream = run([path.join(EXAMPLE, 'upstream.js'), '--port', '0', '--gather', String(OVERLAP)]);
  const [upstreamPort] = await listening(upstream);
  const app = run(appArgs, { PORT: '0', UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}` });
  const ports = await listening(app, workers);
  const port = ports[0]!;
  const replies = await Promise.all(Array.from({ length: OVERLAP }, () => get(port, '/upstream')));
  for (const reply of replies) assert.equal(reply.status, 200, reply.body);
  const stats = JSON.parse((await get(upstreamPort!, '/stats')).body) as { requests: number; mostInFlight: number };
  assert.equal(stats.requests, OVERLAP);
  return { app, port, mostInFlight: stats.mostInFlight };
}

describe('examples/server (an unchanged Express app on fibers, and its async/await twin)', function () {
  this.timeout(180_000);
  afterEach(() => {
    for (const child of children.splice(0)) {
      // sync-request's helper process (sync-rpc) outlives an app killed by a signal: end it by its pid.
      const family = child.pid === undefined ? [] : descendants(child.pid);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const pid of family) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  it('stackful serve app.js: every route answers, the sync-request calls overlap at the upstream, SIGTERM exits 0', async () => {
    const { app, port, mostInFlight } = await overlapAtUpstream([CLI, 'serve', path.join(EXAMPLE, 'app.js')]);
    // Under plain node the first call blocks the process until the upstream gives up gathering: 1 at a time.
    assert.equal(mostInFlight, OVERLAP, `the ${OVERLAP} sync-request calls were not in flight at the upstream at once`);
    await checkRoutes(port);
    app.child.kill('SIGTERM');
    assert.deepEqual(await app.exit, { code: 0, signal: null }, app.output());
  });

  it('node async.js answers every route as app.js does, its fetch calls overlap too', async () => {
    const { app, port, mostInFlight } = await overlapAtUpstream([path.join(EXAMPLE, 'async.js')]);
    assert.equal(mostInFlight, OVERLAP);
    await checkRoutes(port);
    app.child.kill('SIGTERM');
    assert.deepEqual(await app.exit, { code: null, signal: 'SIGTERM' }); // plain node: no handler for it
  });

  it('stackful serve app.js --workers 2: two processes share the port and serve every route; SIGTERM exits 0', async () => {
    const { app, port, mostInFlight } = await overlapAtUpstream([CLI, 'serve', path.join(EXAMPLE, 'app.js'), '--workers', '2'], 2);
    assert.equal(mostInFlight, OVERLAP);
    await checkRoutes(port);
    app.child.kill('SIGTERM');
    assert.deepEqual(await app.exit, { code: 0, signal: null }, app.output());
  });
});
