import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { joinAll, runInFiber, sleep, spawn, Timeout, TimeoutError } from 'stackful';
import { get, request, Response } from 'stackful/http';
import { selfSignedCert } from './helpers';

/** A local server that counts what it sees, closed after each test. */
interface TestServer {
  url: string;
  port: number;
  server: http.Server | https.Server;
  /** Requests received so far. */
  requests: number;
  /** Client connections accepted so far. */
  connections: number;
  /** Client connections that have closed (from either side). */
  closedConnections: number;
  /** Requests received whose connection is still open. */
  open: number;
}

const servers: TestServer[] = [];

async function serve(handler: http.RequestListener, tls?: { key: string; cert: string }): Promise<TestServer> {
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  const t: TestServer = { url: '', port: 0, server, requests: 0, connections: 0, closedConnections: 0, open: 0 };
  server.on(tls ? 'secureConnection' : 'connection', (socket) => {
    t.connections++;
    socket.on('close', () => t.closedConnections++);
  });
  // Counted before the test's own handler runs.
  server.prependListener('request', (req: http.IncomingMessage) => {
    t.requests++;
    t.open++;
    req.socket.once('close', () => t.open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.port = (server.address() as { port: number }).port;
  t.url = `${tls ? 'https' : 'http'}://127.0.0.1:${t.port}`;
  servers.push(t);
  return t;
}

/** Closes the servers a test started, and the connections Node's agents keep. */
async function closeServers(): Promise<void> {
  for (const t of servers.splice(0)) {
    t.server.closeAllConnections();
    await new Promise((resolve) => t.server.close(resolve));
  }
  http.globalAgent.destroy();
  https.globalAgent.destroy();
}

/** Inside a fiber: sleeps until `condition()` holds; fails after 5 s instead of hanging. */
function until(condition: () => boolean, what: string): void {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5000) throw new Error(`gave up waiting until ${what}`);
    sleep(5);
  }
}

/** On the root: the same, with promises. */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 5000) throw new Error(`gave up waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const fds = (): number => fs.readdirSync('/proc/self/fd').length;

/** What an error looks like, for comparing ours with Node's own. */
function shape(err: unknown): Record<string, unknown> {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  return { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, address: e.address, port: e.port };
}

function caught(fn: () => unknown): any {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an exception');
}

/** Echoes the request back as JSON. */
const echo: http.RequestListener = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('latin1') }));
  });
};

describe('stackful/http: get() and request()', () => {
  afterEach(closeServers);

  it('returns status, statusText, headers, ok and url as soon as the headers arrive, before the body', async () => {
    let sendBody: (() => void) | undefined;
    const t = await serve((req, res) => {
      res.writeHead(201, 'Made It', { 'x-test': 'yes', 'content-type': 'text/plain' });
      res.flushHeaders();
      sendBody = () => res.end('the body');
    });
    const seen = await runInFiber(() => {
      const res = get(`${t.url}/thing?q=1`);
      const early = { status: res.status, statusText: res.statusText, ok: res.ok, url: res.url, redirected: res.redirected, xTest: res.headers['x-test'], bodySent: sendBody !== undefined };
      sendBody!();
      return { ...early, text: res.text(), isResponse: res instanceof Response };
    });
    assert.deepEqual(seen, {
      status: 201, statusText: 'Made It', ok: true, url: `${t.url}/thing?q=1`, redirected: false, xTest: 'yes', bodySent: true, text: 'the body', isResponse: true,
    });
  });

  it('treats 4xx and 5xx as responses, not errors (ok is false)', async () => {
    const t = await serve((req, res) => {
      res.writeHead(Number(req.url!.slice(1)), { 'content-type': 'text/plain' });
      res.end(`status ${req.url!.slice(1)}`);
    });
    const seen = await runInFiber(() => [404, 500, 299, 300].map((code) => {
      const res = get(`${t.url}/${code}`);
      return [res.status, res.ok, res.text()];
    }));
    assert.deepEqual(seen, [[404, false, 'status 404'], [500, false, 'status 500'], [299, true, 'status 299'], [300, false, 'status 300']]);
  });

  it('reads the body as text, JSON or bytes, again and in any mix', async () => {
    const t = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ greeting: 'grüße', n: [1, 2, 3] }));
    });
    const seen = await runInFiber(() => {
      const res = get(t.url);
      const json = res.json();
      const text = res.text();
      const bytes = res.buffer();
      return { json, text, bytes: Buffer.isBuffer(bytes) && bytes.equals(Buffer.from(text)), again: res.json(), end: res.read() };
    });
    assert.deepEqual(seen, { json: { greeting: 'grüße', n: [1, 2, 3] }, text: '{"greeting":"grüße","n":[1,2,3]}', bytes: true, again: { greeting: 'grüße', n: [1, 2, 3] }, end: null });
  });

  it('decodes text() with the charset of Content-Type, UTF-8 without one; json() of a non-JSON body is a SyntaxError', async () => {
    const t = await serve((req, res) => {
      if (req.url === '/latin1') res.writeHead(200, { 'content-type': 'text/plain; charset=ISO-8859-1' });
      else if (req.url === '/unknown') res.writeHead(200, { 'content-type': 'text/plain; charset=no-such-charset' });
      res.end(req.url === '/latin1' ? Buffer.from('caf\xe9', 'latin1') : 'café');
    });
    const seen = await runInFiber(() => [
      get(`${t.url}/latin1`).text(),
      get(`${t.url}/plain`).text(),
      get(`${t.url}/unknown`).text(),
      caught(() => get(`${t.url}/plain`).json()).name,
    ]);
    assert.deepEqual(seen, ['café', 'café', 'café', 'SyntaxError']);
  });

  it('sends a body: a string, bytes, JSON, a form; POST by default; sets Content-Type (unless given) and Content-Length', async () => {
    const t = await serve(echo);
    const seen = await runInFiber(() => {
      const send = (options: Parameters<typeof request>[0]): any => {
        const { method, body, headers } = request({ url: `${t.url}/in`, ...options }).json();
        return { method, body, type: headers['content-type'], length: headers['content-length'], chunked: headers['transfer-encoding'] };
      };
      return [
        send({ body: 'plain text' }),
        send({ method: 'put', body: Buffer.from([0xde, 0xad]) }),
        send({ method: 'PATCH', body: new Uint8Array([1, 2, 3]).subarray(1) }),
        send({ body: { a: 1, b: ['x'] } }),
        send({ body: [1, 2] , headers: { 'Content-Type': 'application/vnd.test+json' } }),
        send({ body: new URLSearchParams({ q: 'a b', n: '1' }) }),
        send({ method: 'DELETE' }),
        send({}),
      ];
    });
    assert.deepEqual(seen, [
      { method: 'POST', body: 'plain text', type: undefined, length: '10', chunked: undefined },
      { method: 'PUT', body: '\xde\xad', type: undefined, length: '2', chunked: undefined },
      { method: 'PATCH', body: '\x02\x03', type: undefined, length: '2', chunked: undefined },
      { method: 'POST', body: '{"a":1,"b":["x"]}', type: 'application/json', length: '17', chunked: undefined },
      { method: 'POST', body: '[1,2]', type: 'application/vnd.test+json', length: '5', chunked: undefined },
      { method: 'POST', body: 'q=a+b&n=1', type: 'application/x-www-form-urlencoded;charset=UTF-8', length: '9', chunked: undefined },
      { method: 'DELETE', body: '', type: undefined, length: undefined, chunked: undefined },
      { method: 'GET', body: '', type: undefined, length: undefined, chunked: undefined },
    ]);
  });

  it('takes protocol, host, port and path instead of a url, and passes other options to Node (auth)', async () => {
    const t = await serve(echo);
    const seen = await runInFiber(() => {
      const res = request({ host: '127.0.0.1', port: t.port, path: '/p?x=1', auth: 'user:secret', headers: { 'x-a': 'b' } });
      const { url, headers } = res.json();
      return { url, auth: headers.authorization, xa: headers['x-a'], responseUrl: res.url };
    });
    assert.deepEqual(seen, { url: '/p?x=1', auth: `Basic ${Buffer.from('user:secret').toString('base64')}`, xa: 'b', responseUrl: `${t.url}/p?x=1` });
  });

  it('follows redirects like fetch: 303 becomes a GET, 307 keeps the method and body, another origin loses Authorization; manual returns the 3xx', async () => {
    const other = await serve(echo);
    const t = await serve((req, res) => {
      const to = (status: number, location: string): void => {
        res.writeHead(status, { location });
        res.end();
      };
      if (req.url === '/303') to(303, '/echo');
      else if (req.url === '/307') to(307, '/echo');
      else if (req.url === '/301') to(301, 'echo?from=301');
      else if (req.url === '/away') to(302, `${other.url}/there`);
      else if (req.url === '/loop') to(302, '/loop');
      else echo(req, res);
    });
    const seen = await runInFiber(() => {
      const follow = (url: string, options: Omit<Parameters<typeof request>[0], 'url'> = {}): unknown => {
        const res = request({ url, ...options });
        const { method, body, url: path, headers } = res.json();
        return { status: res.status, url: res.url, redirected: res.redirected, method, body, path, auth: headers.authorization, type: headers['content-type'] };
      };
      const manual = request({ url: `${t.url}/307`, redirect: 'manual' });
      const tooMany = caught(() => get(`${t.url}/loop`));
      return {
        see303: follow(`${t.url}/303`, { method: 'POST', body: 'data' }),
        see307: follow(`${t.url}/307`, { method: 'POST', body: 'data', headers: { authorization: 'Bearer t' } }),
        see301: follow(`${t.url}/301`, { method: 'PUT', body: 'kept' }),
        away: follow(`${t.url}/away`, { headers: { Authorization: 'Bearer t' }, auth: 'user:secret' }),
        manual: [manual.status, manual.headers.location, manual.redirected, manual.text()],
        tooMany: [tooMany.code, /stopped after 20 redirects/.test(tooMany.message)],
      };
    });
    assert.deepEqual(seen, {
      see303: { status: 200, url: `${t.url}/echo`, redirected: true, method: 'GET', body: '', path: '/echo', auth: undefined, type: undefined },
      see307: { status: 200, url: `${t.url}/echo`, redirected: true, method: 'POST', body: 'data', path: '/echo', auth: 'Bearer t', type: undefined },
      see301: { status: 200, url: `${t.url}/echo?from=301`, redirected: true, method: 'PUT', body: 'kept', path: '/echo?from=301', auth: undefined, type: undefined },
      away: { status: 200, url: `${other.url}/there`, redirected: true, method: 'GET', body: '', path: '/there', auth: undefined, type: undefined },
      manual: [307, '/echo', false, ''],
      tooMany: ['ERR_TOO_MANY_REDIRECTS', true],
    });
  });

  it('throws ERR_BLOCKING_ON_ROOT on the root fiber, before sending anything', async () => {
    const t = await serve(echo);
    for (const call of [() => get(t.url), () => request({ url: t.url, method: 'POST', body: 'x' })]) {
      const err = caught(call);
      assert.equal(err.code, 'ERR_BLOCKING_ON_ROOT');
      assert.match(err.message, /run this code in a fiber/);
    }
    // A response got in a fiber cannot be read on the root either, even when its body is there.
    const res = await runInFiber(() => {
      const r = get(t.url);
      sleep(20); // the body arrives meanwhile
      return r;
    });
    for (const read of [() => res.read(), () => res.text(), () => res.buffer(), () => res.json()]) assert.equal(caught(read).code, 'ERR_BLOCKING_ON_ROOT');
    res.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(t.requests, 1);
  });

  it('refuses a connection with Node\'s own error: same code, errno, syscall, address, port and message', async () => {
    const t = await serve(echo);
    const port = t.port;
    t.server.close();
    await new Promise((resolve) => t.server.once('close', resolve));
    const nodeErr = await new Promise((resolve) => http.get(`http://127.0.0.1:${port}/`, () => assert.fail('connected')).on('error', resolve));
    const ours = await runInFiber(() => caught(() => get(`http://127.0.0.1:${port}/`)));
    assert.equal(shape(ours).code, 'ECONNREFUSED');
    assert.deepEqual(shape(ours), shape(nodeErr));
  });

  it('checks its arguments: ERR_INVALID_ARG_TYPE for its own options, Node\'s errors for the rest', async () => {
    const seen = await runInFiber(() => [
      caught(() => request(null as never)).code,
      caught(() => request({ url: 42 as never })).code,
      caught(() => request({ url: 'http://127.0.0.1/', host: 'x' })).code,
      caught(() => request({ url: 'http://127.0.0.1/', body: 42 as never })).code,
      caught(() => request({ url: 'http://127.0.0.1/', timeout: -1 })).code,
      caught(() => request({ url: 'http://127.0.0.1/', redirect: 'error' as never })).code,
      caught(() => get('not a url')).code,
      caught(() => get('ftp://127.0.0.1/')).code,
      caught(() => request({ url: 'http://127.0.0.1/', method: 'BAD METHOD' })).code,
      caught(() => get('http://127.0.0.1/', { headers: { 'bad header': 'x' } })).code,
    ]);
    assert.deepEqual(seen, [
      'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE',
      'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_URL', 'ERR_INVALID_PROTOCOL', 'ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_HTTP_TOKEN',
    ]);
    assert.throws(() => new Response({}, false), TypeError);
  });
});

describe('stackful/http: reading the body in pieces', () => {
  afterEach(closeServers);

  it('read() hands out the body piece by piece, and the server sees back-pressure while the fiber does not read', async () => {
    const TOTAL = 64 * 1024 * 1024; // far more than the socket buffers of both sides hold
    const piece = Buffer.alloc(64 * 1024, 'x');
    const state = { sent: 0, waitingForDrain: false, stalls: 0 };
    const t = await serve((req, res) => {
      res.writeHead(200, { 'content-length': TOTAL });
      const pump = (): void => {
        state.waitingForDrain = false;
        while (state.sent < TOTAL) {
          state.sent += piece.length;
          if (!res.write(piece)) {
            state.waitingForDrain = true;
            state.stalls++;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const seen = await runInFiber(() => {
      const res = get(t.url);
      // The fiber does not read: the server must stall, and stay stalled.
      until(() => state.waitingForDrain, 'the server saw back-pressure');
      sleep(100);
      const first = { sent: state.sent, waiting: state.waitingForDrain };
      sleep(100);
      const second = { sent: state.sent, waiting: state.waitingForDrain };
      let bytes = 0;
      let pieces = 0;
      let allX = true;
      for (let chunk = res.read(); chunk !== null; chunk = res.read()) {
        bytes += chunk.length;
        pieces++;
        if (chunk[0] !== 0x78 || chunk[chunk.length - 1] !== 0x78) allX = false;
      }
      return { first, second, bytes, pieces, allX, again: res.read() };
    });
    assert.equal(seen.first.waiting, true, 'the server was not held back while the fiber did not read');
    assert.ok(seen.first.sent < TOTAL, `the server wrote all ${TOTAL} bytes while nobody read`);
    assert.deepEqual(seen.second, seen.first, 'the server went on writing while the fiber did not read');
    assert.equal(seen.bytes, TOTAL);
    assert.ok(seen.pieces > 1);
    assert.equal(seen.allX, true);
    assert.equal(seen.again, null);
    assert.ok(state.stalls > 1, 'the server was held back once only');
  });

  it('for...of iterates the pieces; leaving the loop early closes the connection', async () => {
    const t = await serve((req, res) => {
      if (req.url === '/short') return res.end('abc');
      res.write('first');
      // ...and never ends.
    });
    const seen = await runInFiber(() => {
      const whole = Buffer.concat([...get(`${t.url}/short`)]).toString();
      const res = get(`${t.url}/endless`);
      const taken: string[] = [];
      for (const chunk of res) {
        taken.push(chunk.toString());
        break;
      }
      until(() => t.closedConnections >= 1, 'the server saw the connection close');
      return { whole, taken, after: caught(() => res.read()).code };
    });
    assert.deepEqual(seen, { whole: 'abc', taken: ['first'], after: 'ERR_STREAM_DESTROYED' });
  });

  it('text(), json() and buffer() refuse a body that read() has started to hand out (ERR_BODY_CONSUMED)', async () => {
    const t = await serve((req, res) => {
      res.write('one');
      setTimeout(() => res.end('two'), 20);
    });
    const seen = await runInFiber(() => {
      const res = get(t.url);
      const first = res.read()!.toString();
      const err = caught(() => res.text());
      return { first, code: err.code, rest: res.read()!.toString(), end: res.read() };
    });
    assert.deepEqual(seen, { first: 'one', code: 'ERR_BODY_CONSUMED', rest: 'two', end: null });
  });

  it('close() frees the connection without reading the rest; later reads throw ERR_STREAM_DESTROYED; close() after the end does nothing', async () => {
    const t = await serve((req, res) => {
      if (req.url === '/small') return res.end('all of it');
      res.write('a'.repeat(1000));
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const seen = await runInFiber(() => {
        const small = get(`${t.url}/small`, { agent });
        const text = small.text();
        small.close();
        // Arrived in full but unread: closing keeps the connection for the next request.
        const unread = get(`${t.url}/small`, { agent });
        sleep(20);
        unread.close();
        const unreadCode = caught(() => unread.read()).code;
        const big = get(`${t.url}/big`, { agent });
        big.close();
        big.destroy(); // the same, and harmless twice
        until(() => t.closedConnections >= 1, 'the server saw the connection close');
        return {
          text, again: small.text(), unreadCode, code: caught(() => big.read()).code, disposable: typeof big[Symbol.dispose],
          requests: t.requests, connections: t.connections, closed: t.closedConnections,
        };
      });
      assert.deepEqual(seen, {
        text: 'all of it', again: 'all of it', unreadCode: 'ERR_STREAM_DESTROYED', code: 'ERR_STREAM_DESTROYED', disposable: 'function',
        requests: 3, connections: 1, closed: 1,
      });
    } finally {
      agent.destroy();
    }
  });

  it('a Response dropped unread has its connection closed when it is garbage-collected', async () => {
    const t = await serve((req, res) => {
      res.write('never read');
    });
    await runInFiber(() => {
      get(t.url); // dropped at once
      until(() => t.requests === 1, 'the request arrived');
    });
    for (let i = 0; i < 200 && t.closedConnections === 0; i++) {
      global.gc!();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(t.closedConnections, 1, 'the connection of a collected Response stayed open');
  });
});

describe('stackful/http: many at once, timeouts and interruption', () => {
  afterEach(closeServers);

  it('runs 100 requests at once: each answer waits until all 100 are in flight, and a timer fires meanwhile', async () => {
    const N = 100;
    const held: http.ServerResponse[] = [];
    let together = true;
    let maxOpen = 0;
    const t = await serve((req, res) => {
      maxOpen = Math.max(maxOpen, t.open);
      held.push(res);
      if (held.length === N) for (const r of held) r.end(together ? 'together' : 'alone');
    });
    // A broken client fails this test instead of hanging it.
    const giveUp = setTimeout(() => {
      together = false;
      for (const r of held) r.end('alone');
    }, 10_000);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const agent = new http.Agent({ keepAlive: true });
    try {
      const bodies = await runInFiber(() => {
        const fetchers = Array.from({ length: N }, (_, i) => spawn(() => `${i}:${get(`${t.url}/${i}`, { agent }).text()}`));
        joinAll(fetchers, { raiseError: true });
        return fetchers.map((g) => g.value);
      });
      assert.deepEqual(bodies, Array.from({ length: N }, (_, i) => `${i}:together`));
      assert.equal(maxOpen, N);
      assert.ok(ticks > 0, 'the timer did not fire while the requests were in flight');
    } finally {
      clearTimeout(giveUp);
      clearInterval(ticker);
      agent.destroy();
    }
  });

  it('timeout: throws TimeoutError when no response arrives in time, and aborts the request', async () => {
    const t = await serve(() => {
      // never answers
    });
    const err = await runInFiber(() => caught(() => get(`${t.url}/slow`, { timeout: 50 })));
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.code, 'ERR_FIBER_TIMEOUT');
    assert.match(err.message, /GET http:\/\/127\.0\.0\.1:\d+\/slow: nothing arrived for 50 ms while waiting for the response/);
    await eventually(() => t.closedConnections === 1, 'the server saw the connection close');
  });

  it('timeout: applies to each wait for body data as well', async () => {
    const t = await serve((req, res) => {
      res.write('some');
      // ...then nothing
    });
    const seen = await runInFiber(() => {
      const res = get(t.url, { timeout: 100 });
      const first = res.read()!.toString();
      const err = caught(() => res.read());
      return { first, timeout: err instanceof TimeoutError, message: err.message, after: caught(() => res.read()).code };
    });
    assert.equal(seen.first, 'some');
    assert.equal(seen.timeout, true);
    assert.match(seen.message, /nothing arrived for 100 ms while reading the body/);
    assert.equal(seen.after, 'ERR_STREAM_DESTROYED');
    await eventually(() => t.closedConnections === 1, 'the server saw the connection close');
  });

  it('a Timeout around a request aborts it too', async () => {
    const t = await serve(() => {});
    const err = await runInFiber(() => caught(() => Timeout.run(50, () => get(t.url))));
    assert.ok(err instanceof TimeoutError);
    await eventually(() => t.closedConnections === 1, 'the server saw the connection close');
  });

  for (const when of ['waiting for the response', 'reading the body'] as const) {
    it(`a fiber killed while ${when} aborts the request: its finally runs, the server sees the connection close, no descriptor leaks`, async () => {
      const t = await serve((req, res) => {
        if (when === 'reading the body') res.write('part of it');
      });
      await new Promise((resolve) => setTimeout(resolve, 20)); // let closed sockets of earlier tests go
      const before = fds();
      const log: string[] = [];
      await runInFiber(() => {
        const g = spawn(() => {
          try {
            const res = get(t.url);
            log.push(`got ${res.read()}`);
            res.read(); // the rest never comes
            log.push('read all');
          } finally {
            log.push('finally');
          }
        });
        until(() => t.requests === 1 && (when === 'waiting for the response' || log.length === 1), `the fiber is ${when}`);
        sleep(10);
        g.kill();
        log.push(`killed, dead: ${g.dead}`);
      });
      const expected = when === 'reading the body' ? ['got part of it', 'finally', 'killed, dead: true'] : ['finally', 'killed, dead: true'];
      assert.deepEqual(log, expected);
      await eventually(() => t.closedConnections === 1, 'the server saw the connection close');
      await eventually(() => fds() === before, `the descriptors went back to ${before}`).catch(() => assert.equal(fds(), before, 'a descriptor leaked'));
    });
  }

  it('signal: aborting throws Node\'s own AbortError, and the server sees the connection close', async () => {
    const t = await serve(() => {});
    const nodeErr = await new Promise((resolve) => {
      const controller = new AbortController();
      http.get(t.url, { signal: controller.signal }).on('error', resolve);
      setTimeout(() => controller.abort(), 20);
    });
    const ours = await runInFiber(() => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20);
      return caught(() => get(t.url, { signal: controller.signal }));
    });
    assert.equal(shape(ours).code, 'ABORT_ERR');
    assert.deepEqual(shape(ours), shape(nodeErr));
    await eventually(() => t.closedConnections === 2, 'the server saw both connections close');
  });
});

describe('stackful/http: https', function () {
  afterEach(closeServers);

  let tls: { key: string; cert: string } | undefined;
  before(function () {
    tls = selfSignedCert();
    if (tls === undefined) this.skip(); // no openssl on this machine
  });

  it('GETs over https with a certificate trusted through `ca`, and refuses it otherwise with Node\'s own error', async () => {
    const t = await serve(echo, tls);
    const nodeErr = await new Promise((resolve) => https.get(t.url, () => assert.fail('connected')).on('error', resolve));
    const seen = await runInFiber(() => {
      const res = get(`${t.url}/secure`, { ca: tls!.cert });
      return { status: res.status, url: res.json().url, refused: shape(caught(() => get(t.url))) };
    });
    assert.deepEqual(seen, { status: 200, url: '/secure', refused: shape(nodeErr) });
  });
});
