import assert from 'node:assert/strict';
import { spawn as spawnProcess, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { Event, sleep, stats } from 'stackful';
import { readBody, readJson, readText, serve, wrap, type Server } from 'stackful/server';
import { codeOf, ROOT, selfSignedCert } from './helpers';

// ---------------------------------------------------------------------------
// Clients and helpers (everything on 127.0.0.1, bounded in time)

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on a connection of its own; rejects on a network error, after 20 s at most. */
function request(port: number, urlPath: string, options: { method?: string; body?: string | Buffer; headers?: http.OutgoingHttpHeaders; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, timeout: 20_000 }, (res) => {
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(pieces).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${urlPath} in 20 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Waits on the root until `condition()` holds; fails after 10 s instead of hanging. */
async function eventually(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const start = Date.now(); !condition(); ) {
    if (Date.now() - start > ms) throw new Error(`gave up waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fds = (): number => fs.readdirSync('/proc/self/fd').length;

const servers: Server[] = [];

async function start(listener: http.RequestListener, options: Parameters<typeof serve>[1] = {}): Promise<{ server: Server; port: number }> {
  const server = serve(listener, { port: 0, ...options });
  servers.push(server);
  await server.ready;
  return { server, port: (server.address() as { port: number }).port };
}

/** Greenlet failures reported during a test (instead of stderr). */
let reported: unknown[] = [];
const onGreenletError = (err: unknown): void => {
  reported.push(err);
};

beforeEach(() => {
  reported = [];
  process.on('greenletError', onGreenletError);
});

afterEach(async () => {
  process.off('greenletError', onGreenletError);
  for (const server of servers.splice(0)) await server.close({ deadline: 0 });
});

// ---------------------------------------------------------------------------

describe('stackful/server: serve()', function () {
  it('handles each request in a fiber of its own: N blocking handlers are in flight at once', async () => {
    const n = 8;
    const all = new Event();
    let inHandler = 0;
    let most = 0;
    const { server, port } = await start((req, res) => {
      inHandler++;
      most = Math.max(most, inHandler);
      if (inHandler === n) all.set();
      // Parks this fiber only; without a fiber per request, the first one
      // would wait alone until the timeout.
      const together = all.wait(10_000);
      inHandler--;
      res.end(JSON.stringify({ together }));
    });
    const replies = await Promise.all(Array.from({ length: n }, () => request(port, '/')));
    assert.deepEqual(replies.map((r) => [r.status, JSON.parse(r.body).together]), Array(n).fill([200, true]));
    assert.equal(most, n);
    assert.equal(server.stats().handled, n);
  });

  it('answers 500 to a handler that throws, reports it through greenletError, and goes on serving', async () => {
    const { server, port } = await start((req, res) => {
      if (req.url === '/boom') {
        res.setHeader('Content-Type', 'text/html');
        throw new Error('boom in the handler');
      }
      res.end('fine');
    });
    const boom = await request(port, '/boom');
    assert.equal(boom.status, 500);
    assert.equal(boom.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(boom.body, 'Internal Server Error\n');
    assert.equal((await request(port, '/')).body, 'fine');
    await eventually(() => reported.length === 1, 'the failure is reported');
    assert.equal((reported[0] as Error).message, 'boom in the handler');
    assert.equal(server.stats().failed, 1);
  });

  it('destroys the socket of a handler that throws after sending its headers', async () => {
    const { port } = await start((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('part of it');
      sleep(10);
      throw new Error('half-way');
    });
    await assert.rejects(request(port, '/'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.message === 'aborted');
    await eventually(() => reported.length === 1, 'the failure is reported');
  });

  it('kills a request past `timeout`: 503 to the client, the handler\'s finally runs, a TimeoutError reported', async () => {
    let finallyRan = 0;
    let after = 0;
    const { server, port } = await start((req, res) => {
      try {
        sleep(60_000);
        after++;
        res.end('too late');
      } finally {
        finallyRan++;
      }
    }, { timeout: 100 });
    const reply = await request(port, '/slow');
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['retry-after'], '1');
    await eventually(() => server.stats().inFlight === 0, 'the slot is freed');
    assert.equal(finallyRan, 1);
    assert.equal(after, 0);
    assert.equal(server.stats().timedOut, 1);
    await eventually(() => reported.length === 1, 'the timeout is reported');
    assert.equal((reported[0] as { code: string }).code, 'ERR_FIBER_TIMEOUT');
    assert.match((reported[0] as Error).message, /GET \/slow took longer than 100 ms/);
  });

  it('destroys the socket of a request past `timeout` whose headers were sent', async () => {
    let finallyRan = 0;
    const { server, port } = await start((req, res) => {
      res.writeHead(200);
      res.write('started');
      try {
        sleep(60_000);
      } finally {
        finallyRan++;
      }
    }, { timeout: 100 });
    await assert.rejects(request(port, '/partial'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.message === 'aborted');
    await eventually(() => server.stats().inFlight === 0, 'the slot is freed');
    assert.equal(finallyRan, 1);
    assert.equal(server.stats().timedOut, 1);
  });

  it('a client that goes away kills its request\'s fiber: no descriptor or fiber is left behind', async () => {
    let started = 0;
    let finished = 0;
    const { server, port } = await start(() => {
      started++;
      try {
        sleep(60_000);
      } finally {
        finished++;
      }
    });
    // Once, so that whatever is made on first use (stacks, pools) is there.
    const warm = http.get({ host: '127.0.0.1', port, agent: false }).on('error', () => {});
    await eventually(() => started === 1, 'the first request started');
    warm.destroy();
    await eventually(() => finished === 1 && server.stats().inFlight === 0, 'the first request ended');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const fdsBefore = fds();
    const liveBefore = stats().live;
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      const req = http.get({ host: '127.0.0.1', port, agent: false }).on('error', () => {});
      await eventually(() => started === i + 2, `request ${i + 2} started`);
      req.destroy();
    }
    await eventually(() => finished === rounds + 1 && server.stats().inFlight === 0, 'every aborted request ended');
    await eventually(() => fds() <= fdsBefore, `descriptors are back to ${fdsBefore} (now ${fds()})`);
    assert.equal(stats().live, liveBefore);
    assert.equal(server.stats().aborted, rounds + 1);
    assert.deepEqual(reported, []); // a client leaving is not a failure
  });

  it('beyond `concurrency` requests wait in the backlog; beyond the backlog, 503 with Retry-After', async () => {
    const release = new Event();
    const order: string[] = [];
    const { server, port } = await start((req, res) => {
      order.push(`start ${req.url}`);
      release.wait(10_000);
      res.end(req.url);
    }, { concurrency: 1, backlog: 1 });
    const first = request(port, '/first');
    await eventually(() => order.length === 1, 'the first request runs');
    const second = request(port, '/second');
    await eventually(() => server.stats().queued === 1, 'the second request waits');
    const third = await request(port, '/third');
    assert.equal(third.status, 503);
    assert.equal(third.headers['retry-after'], '1');
    assert.deepEqual(order, ['start /first']);
    release.set();
    assert.equal((await first).body, '/first');
    assert.equal((await second).body, '/second');
    assert.deepEqual(order, ['start /first', 'start /second']);
    await eventually(() => server.stats().inFlight === 0, 'both slots are freed');
    assert.deepEqual(server.stats(), { inFlight: 0, queued: 0, handled: 2, rejected: 1, failed: 0, timedOut: 0, aborted: 0 });
  });

  it('drops from the line a waiting request whose client went away', async () => {
    const release = new Event();
    const order: string[] = [];
    const { server, port } = await start((req, res) => {
      order.push(req.url!);
      release.wait(10_000);
      res.end(req.url);
    }, { concurrency: 1, backlog: 5 });
    const first = request(port, '/first');
    await eventually(() => order.length === 1, 'the first request runs');
    const quitter = http.get({ host: '127.0.0.1', port, path: '/quitter', agent: false }).on('error', () => {});
    await eventually(() => server.stats().queued === 1, 'the quitter waits in line');
    const last = request(port, '/last');
    await eventually(() => server.stats().queued === 2, 'the last one waits too');
    quitter.destroy();
    await eventually(() => server.stats().queued === 1, 'the quitter left the line');
    release.set();
    assert.equal((await first).body, '/first');
    assert.equal((await last).body, '/last');
    assert.deepEqual(order, ['/first', '/last']);
    await eventually(() => server.stats().inFlight === 0, 'all done');
    assert.equal(server.stats().aborted, 1);
  });

  it('close({ deadline }) stops accepting, lets quick requests finish and kills the rest at the deadline', async () => {
    let killedFinally = 0;
    let started = 0;
    const { server, port } = await start((req, res) => {
      started++;
      if (req.url === '/quick') {
        sleep(100);
        res.end('quick done');
        return;
      }
      try {
        sleep(60_000);
      } finally {
        killedFinally++;
      }
    });
    const quick = request(port, '/quick');
    const stuck = request(port, '/stuck');
    await eventually(() => started === 2, 'both requests run');
    const closed = server.close({ deadline: 3_000 });
    await assert.rejects(request(port, '/late'), { code: 'ECONNREFUSED' });
    const [q, s] = await Promise.all([quick, stuck]);
    await closed;
    assert.equal(q.status, 200);
    assert.equal(q.body, 'quick done');
    assert.equal(s.status, 503);
    assert.equal(killedFinally, 1);
    assert.equal(server.stats().inFlight, 0);
  });

  it('keeps connections alive between requests, as Node\'s server does', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const { port } = await start((req, res) => {
      ports.add(req.socket.remotePort!);
      sleep(1);
      res.end('ok');
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(port, '/', { agent })).body, 'ok');
    } finally {
      agent.destroy();
    }
    assert.equal(ports.size, 1);
  });

  it('waits in the fiber for the promise an async listener returns (Koa\'s callback does that): a rejection gives 500', async () => {
    const { server, port } = await start(async (req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (req.url === '/reject') throw new Error('rejected later');
      res.end('async done');
    });
    assert.equal((await request(port, '/')).body, 'async done');
    assert.equal((await request(port, '/reject')).status, 500);
    await eventually(() => reported.length === 1, 'the rejection is reported');
    assert.equal((reported[0] as Error).message, 'rejected later');
    assert.equal(server.stats().failed, 1);
  });

  it('answers pipelined requests in order while their handlers overlap, and a malformed request gets Node\'s 400', async () => {
    const order: string[] = [];
    const { port } = await start((req, res) => {
      order.push(`start ${req.url}`);
      if (req.url === '/slow') sleep(100);
      order.push(`end ${req.url}`);
      res.end(req.url);
    });
    const raw = (text: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = require('node:net').connect(port, '127.0.0.1');
        let got = '';
        socket.on('data', (piece: Buffer) => (got += piece));
        socket.on('end', () => resolve(got));
        socket.on('error', reject);
        socket.setTimeout(20_000, () => socket.destroy(new Error('no answer')));
        socket.write(text); // not end(): a client that half-closes has its requests in flight aborted, as Node does
      });
    const answer = await raw('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.ok(answer.indexOf('/slow') < answer.indexOf('/fast') && answer.indexOf('/fast') > 0, JSON.stringify(answer));
    assert.deepEqual(order, ['start /slow', 'start /fast', 'end /fast', 'end /slow']);
    assert.match(await raw('NOT HTTP AT ALL\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request/);
    assert.equal((await request(port, '/after')).body, '/after');
  });

  it('refuses bad options with coded errors', () => {
    const ok = (): void => undefined;
    assert.equal(codeOf(() => serve('app' as never)), 'ERR_INVALID_ARG_TYPE');
    assert.equal(codeOf(() => serve(ok, { concurrency: 0 })), 'ERR_OUT_OF_RANGE');
    assert.equal(codeOf(() => serve(ok, { backlog: -1 })), 'ERR_OUT_OF_RANGE');
    assert.equal(codeOf(() => serve(ok, { timeout: '5s' as never })), 'ERR_INVALID_ARG_TYPE');
    assert.equal(codeOf(() => serve(ok, { port: 70000 })), 'ERR_OUT_OF_RANGE');
    assert.equal(codeOf(() => serve(ok, { maxRequests: 10 })), 'ERR_SERVER_OPTION');
    assert.equal(codeOf(() => wrap(ok, { concurrency: 1.5 })), 'ERR_OUT_OF_RANGE');
  });

  it('serves https when given TLS options', async function () {
    const tls = selfSignedCert();
    if (tls === undefined) this.skip(); // no openssl on this machine
    const { server, port } = await start((req, res) => {
      sleep(1);
      res.end(`secure ${(req.socket as { encrypted?: boolean }).encrypted === true}`);
    }, { tls });
    assert.ok(server.server instanceof https.Server);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, ca: tls.cert, agent: false }, (res) => {
        let text = '';
        res.on('data', (piece) => (text += piece));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.equal(body, 'secure true');
  });
});

describe('stackful/server: wrap()', function () {
  it('dispatches the requests of a server the user creates, and close() drains them', async () => {
    const release = new Event();
    let inFlight = 0;
    const listener = wrap((req, res) => {
      inFlight++;
      release.wait(10_000);
      inFlight--;
      res.end('wrapped');
    }, { concurrency: 10 });
    const server = http.createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const replies = [request(port, '/'), request(port, '/')];
      await eventually(() => inFlight === 2, 'both requests are in flight');
      assert.equal(listener.stats().inFlight, 2);
      const drained = listener.close({ deadline: 10_000 });
      const late = await request(port, '/');
      assert.equal(late.status, 503); // closing: no new requests
      release.set();
      await drained;
      assert.deepEqual((await Promise.all(replies)).map((r) => r.body), ['wrapped', 'wrapped']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('stackful/server: readBody(), readJson(), readText()', function () {
  it('read the body in the request\'s fiber; a body over the limit gets 413, bad JSON 400', async () => {
    const { server, port } = await start((req, res) => {
      if (req.url === '/json') res.end(JSON.stringify({ got: readJson(req, { limit: 64 }) }));
      else if (req.url === '/text') res.end(`${readText(req).length} characters; again: ${readBody(req).length} bytes`);
      else res.end('?');
    });
    const json = await request(port, '/json', { method: 'POST', body: '{"a":[1,2,3]}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual(JSON.parse(json.body), { got: { a: [1, 2, 3] } });
    const text = await request(port, '/text', { method: 'POST', body: 'héllo' });
    assert.equal(text.body, '5 characters; again: 6 bytes');
    const big = await request(port, '/json', { method: 'POST', body: JSON.stringify({ pad: 'x'.repeat(100) }) });
    assert.equal(big.status, 413);
    assert.match(big.body, /over the limit of 64 bytes/);
    // Chunked: no Content-Length to refuse it early; it is refused while reading.
    const chunked = await request(port, '/json', { method: 'POST', body: 'y'.repeat(200), headers: { 'transfer-encoding': 'chunked' } });
    assert.equal(chunked.status, 413);
    const bad = await request(port, '/json', { method: 'POST', body: '{not json' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /is not JSON/);
    assert.deepEqual(reported, []); // the client's mistakes are not failures
    assert.equal(server.stats().failed, 3);
  });

  it('refuse to run on the root fiber, and a non-request argument', () => {
    const fake = Object.assign(new (require('node:stream').Readable)({ read() {} }), { headers: {}, method: 'GET', url: '/' });
    assert.equal(codeOf(() => readBody(fake as never)), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => readBody({} as never)), 'ERR_INVALID_ARG_TYPE');
    assert.equal(codeOf(() => readBody(fake as never, { limit: -1 })), 'ERR_OUT_OF_RANGE');
  });
});

// ---------------------------------------------------------------------------
// The command line and the preload, on an unchanged app (test/fixtures/server-app.js)

const CLI = path.join(ROOT, 'dist', 'server', 'cli.js');
const APP = path.join(ROOT, 'test', 'fixtures', 'server-app.js');

interface Running {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The ports and pids of the app's "listening" lines so far. */
  listening(): Array<{ port: number; pid: number }>;
}

const children: ChildProcess[] = [];

function run(args: string[], env: Record<string, string> = {}): Running {
  const child = spawnProcess(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const running: Running = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
    listening: () => [...running.stdout.matchAll(/^listening (\d+) (\d+)$/gm)].map((m) => ({ port: Number(m[1]), pid: Number(m[2]) })),
  };
  child.stdout!.on('data', (piece) => (running.stdout += piece));
  child.stderr!.on('data', (piece) => (running.stderr += piece));
  return running;
}

async function listeningOnce(running: Running, count = 1): Promise<number> {
  await eventually(() => running.listening().length >= count || running.child.exitCode !== null, `the app listens (stderr: ${running.stderr})`, 30_000);
  assert.ok(running.listening().length >= count, `the app exited early:\n${running.stderr}`);
  return running.listening()[0]!.port;
}

/** N requests to /together?n=N at once: true when the app saw them all in flight at the same time. */
async function together(port: number, n: number): Promise<boolean> {
  const replies = await Promise.all(Array.from({ length: n }, () => request(port, `/together?n=${n}`)));
  return replies.every((r) => r.status === 200 && JSON.parse(r.body).together === true);
}

function cleanupChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

describe('stackful serve (the command line)', function () {
  this.timeout(120_000);
  afterEach(cleanupChildren);

  it('serves an unchanged blocking app with a fiber per request, and exits with code 0 on SIGTERM after the request in flight', async () => {
    const app = run([CLI, 'serve', APP]);
    const port = await listeningOnce(app);
    assert.equal(await together(port, 5), true);
    const boom = await request(port, '/boom');
    assert.equal(boom.status, 500);
    assert.equal((await request(port, '/')).body, 'hello');
    const slow = request(port, '/slow?s=0.5');
    await eventually(() => app.stdout.includes('slow started'), 'the slow request runs', 30_000);
    app.child.kill('SIGTERM');
    const reply = await slow;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'slow done');
    assert.deepEqual(await app.exit, { code: 0, signal: null });
    assert.match(app.stderr, /boom from the app/);
  });

  it('prints its help, and exits with code 2 and one line on a bad option or a missing file', async () => {
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(help.status, 0);
    for (const option of ['--workers', '--concurrency', '--backlog', '--timeout', '--graceful-timeout', '--max-requests', '--worker-timeout']) assert.ok(help.stdout.includes(option), option);
    for (const [args, message] of [
      [['serve', APP, '--bogus'], /^stackful: Unknown option '--bogus'/],
      [['serve', APP, '--workers', 'two'], /^stackful: --workers: expected an integer >= 1, got "two"/],
      [['serve', APP, '--timeout', '-5'], /--timeout/],
      [['serve', 'no-such-app.js'], /^stackful: cannot find the app file "no-such-app.js"/],
      [['serve'], /needs the app file/],
      [['start', APP], /unknown command "start"/],
      [['serve', APP, '--max-requests', '5'], /needs --workers/],
      [['serve', APP, '--worker-timeout', '5'], /needs --workers/],
    ] as Array<[string[], RegExp]>) {
      const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });

  it('--workers 2 serves from two processes, replaces a killed worker, and stops them all on SIGTERM', async () => {
    const primary = run([CLI, 'serve', APP, '--workers', '2']);
    const port = await listeningOnce(primary, 2);
    const pidsSeen = new Set<number>();
    for (let i = 0; i < 200 && pidsSeen.size < 2; i++) pidsSeen.add(Number((await request(port, '/pid')).body));
    assert.equal(pidsSeen.size, 2);
    const victim = [...pidsSeen][0]!;
    process.kill(victim, 'SIGKILL');
    await eventually(() => primary.listening().length >= 3, `a new worker listens (stderr: ${primary.stderr})`, 30_000);
    const replacement = primary.listening()[2]!.pid;
    assert.ok(!pidsSeen.has(replacement));
    assert.match(primary.stderr, new RegExp(`worker ${victim} was killed by SIGKILL; starting another`));
    const now = new Set<number>();
    for (let i = 0; i < 200 && !now.has(replacement); i++) now.add(Number((await request(port, '/pid')).body));
    assert.ok(now.has(replacement));
    assert.ok(!now.has(victim));
    primary.child.kill('SIGTERM');
    assert.deepEqual(await primary.exit, { code: 0, signal: null });
    const workers = primary.listening().map((l) => l.pid);
    for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} is gone`);
  });

  it('--max-requests: a worker that handled that many requests stops gracefully and another takes its place', async () => {
    const primary = run([CLI, 'serve', APP, '--workers', '1', '--max-requests', '3']);
    const port = await listeningOnce(primary, 1);
    const first = primary.listening()[0]!.pid;
    for (let i = 0; i < 3; i++) assert.equal(Number((await request(port, '/pid')).body), first);
    await eventually(() => primary.listening().length >= 2, `another worker listens (stderr: ${primary.stderr})`, 30_000);
    assert.match(primary.stderr, new RegExp(`worker ${first} exited with code 0; starting another`));
    // With port 0, the new worker's listen(0) gets a port of its own once no worker holds the old one.
    const next = primary.listening()[1]!;
    assert.equal(Number((await request(next.port, '/pid')).body), next.pid);
    primary.child.kill('SIGTERM');
    assert.deepEqual(await primary.exit, { code: 0, signal: null });
  });

  it('--worker-timeout: a worker whose event loop is blocked is killed and replaced', async () => {
    const primary = run([CLI, 'serve', APP, '--workers', '1', '--worker-timeout', '3000']);
    const port = await listeningOnce(primary, 1);
    const stuck = primary.listening()[0]!.pid;
    request(port, '/spin').catch(() => {}); // never answered: its worker dies
    await eventually(() => primary.listening().length >= 2, `another worker listens (stderr: ${primary.stderr})`, 30_000);
    assert.match(primary.stderr, new RegExp(`worker ${stuck} sent no heartbeat for \\d+ ms \\(its event loop is blocked\\); killing it`));
    assert.equal(alive(stuck), false);
    const next = primary.listening()[1]!;
    assert.equal(Number((await request(next.port, '/pid')).body), next.pid);
    primary.child.kill('SIGTERM');
    assert.deepEqual(await primary.exit, { code: 0, signal: null });
  });

  it('gives up, with code 1, on an app whose workers die before they listen, waiting longer each time', async () => {
    const primary = run([CLI, 'serve', path.join(ROOT, 'test', 'fixtures', 'server-crash.js'), '--workers', '1']);
    assert.deepEqual(await primary.exit, { code: 1, signal: null });
    const delays = [...primary.stderr.matchAll(/starting another in (\d+) ms/g)].map((m) => Number(m[1]));
    assert.deepEqual(delays, [100, 200, 400, 800]);
    assert.match(primary.stderr, /giving up: 5 workers in a row died before any listened \(the last one exited with code 1\)/);
    assert.match(primary.stderr, /this app cannot start/);
  });

  it('SIGHUP starts new workers, then stops the old ones gracefully', async () => {
    const primary = run([CLI, 'serve', APP, '--workers', '1']);
    const port = await listeningOnce(primary, 1);
    const old = primary.listening()[0]!.pid;
    const slow = request(port, '/slow?s=1');
    await eventually(() => primary.stdout.includes('slow started'), 'the slow request runs', 30_000);
    primary.child.kill('SIGHUP');
    await eventually(() => primary.listening().length >= 2, `the new worker listens (stderr: ${primary.stderr})`, 30_000);
    const fresh = primary.listening()[1]!.pid;
    assert.equal((await slow).body, 'slow done'); // the old worker finished its request
    await eventually(() => !alive(old), 'the old worker is gone', 30_000);
    assert.equal(Number((await request(port, '/pid')).body), fresh);
    primary.child.kill('SIGTERM');
    assert.deepEqual(await primary.exit, { code: 0, signal: null });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('stackful/server: serve() with `workers`', function () {
  this.timeout(120_000);
  afterEach(cleanupChildren);

  it('runs the script again in each worker, where serve() serves; the primary only manages them', async () => {
    const script = run([path.join(ROOT, 'test', 'fixtures', 'serve-workers.js')]);
    const port = await listeningOnce(script, 2);
    await eventually(() => /^primary \d+ workers \d+ \d+$/m.test(script.stdout), 'the primary reports its workers');
    const workers = new Set(script.listening().map((l) => l.pid));
    const seen = new Set<number>();
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(Number((await request(port, '/')).body));
    assert.deepEqual([...seen].sort(), [...workers].sort());
    script.child.kill('SIGTERM');
    assert.deepEqual(await script.exit, { code: 0, signal: null });
    for (const pid of workers) await eventually(() => !alive(pid), `worker ${pid} is gone`);
  });

  it('rejects `ready` with ERR_WORKERS_FAILED when the workers keep dying before they listen', async () => {
    const script = run([path.join(ROOT, 'test', 'fixtures', 'serve-workers.js')], { FAIL_IN_WORKER: '1' });
    assert.deepEqual(await script.exit, { code: 1, signal: null });
    assert.match(script.stderr, /ServerError \[ERR_WORKERS_FAILED\]: no worker could start: 5 workers in a row died before any listened/);
    assert.match(script.stderr, /this worker cannot start/);
  });
});

describe('stackful/serve (the preload)', function () {
  this.timeout(120_000);
  afterEach(cleanupChildren);

  for (const flag of ['--import', '--require']) {
    it(`node ${flag} stackful/serve app.js: an unchanged app gets a fiber per request and STACKFUL_TIMEOUT`, async () => {
      const app = run([flag, 'stackful/serve', APP], { STACKFUL_TIMEOUT: '3000' });
      const port = await listeningOnce(app);
      assert.equal(await together(port, 3), true);
      const slow = await request(port, '/slow?s=10');
      assert.equal(slow.status, 503);
      app.child.kill('SIGINT');
      assert.deepEqual(await app.exit, { code: 0, signal: null });
    });
  }

  it('refuses a malformed option with one line and exit code 2', () => {
    const result = spawnSync(process.execPath, ['--require', 'stackful/serve', APP], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, STACKFUL_CONCURRENCY: 'lots' }, timeout: 30_000 });
    assert.equal(result.status, 2);
    assert.equal(result.stderr.trim(), 'stackful/serve: STACKFUL_CONCURRENCY: expected an integer >= 1, got "lots"');
  });
});
