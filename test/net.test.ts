import assert from 'node:assert/strict';
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodeNet from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Event, Fiber, runInFiber, sleep, spawn, TimeoutError } from 'stackful';
import { connect, listen, type Server, type Socket } from 'stackful/net';
import { codeOf } from './helpers';

/** Open file descriptors of this process. */
const fds = (): number => fs.readdirSync('/proc/self/fd').length;

/**
 * In a fiber: the descriptor count once it is back to `expected` (closing a
 * socket releases its descriptor a loop turn later), or what it is after 2 s.
 */
function fdsSettledAt(expected: number): number {
  for (let i = 0; i < 200 && fds() !== expected; i++) sleep(10);
  return fds();
}

/**
 * This host's TCP sockets in SYN_SENT (state 02 in /proc/net/tcp) towards
 * 127.0.0.1:`port`: connects under way to that port, from any process.
 */
function connectingTo(port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').filter((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[2] === remote && fields[3] === '02';
  }).length;
}

/** In a fiber: waits (at most 5 s) until `condition()` holds; false if it never did. */
function until(condition: () => boolean): boolean {
  for (let i = 0; i < 500; i++) {
    if (condition()) return true;
    sleep(10);
  }
  return condition();
}

/**
 * In a fiber: waits (at most 5 s) until `progress()` has not changed while
 * `waiting()` held, five samples 10 ms apart; false if that never happened.
 */
function stalled(progress: () => number, waiting: () => boolean): boolean {
  let last = progress();
  let still = 0;
  return until(() => {
    const now = progress();
    still = now === last && waiting() ? still + 1 : 0;
    last = now;
    return still >= 5;
  });
}

/** What a thrown error carries, comparable across our connect() and Node's own. */
function errorFields(err: unknown): Record<string, unknown> {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  return { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, address: e.address, port: e.port };
}

/** Sockets and servers a test made with pair(): closed after each test, so none keeps the process alive. */
const opened: Array<Socket | Server> = [];

function closeOpened(): void {
  for (const thing of opened.splice(0)) thing.close();
}

/** A connected pair on 127.0.0.1 (the client side, the server side) and its server; closed after the test. */
function pair(options: { highWaterMark?: number; timeout?: number } = {}): { client: Socket; peer: Socket; server: Server } {
  const server = listen({ port: 0, host: '127.0.0.1', ...options });
  opened.push(server);
  const client = connect({ port: server.port!, host: '127.0.0.1', noDelay: true });
  opened.push(client);
  const peer = server.accept();
  opened.push(peer);
  peer.nodeSocket.setNoDelay(true);
  return { client, peer, server };
}

/** Bytes 0..250 repeated: a pattern in which a lost, doubled or reordered chunk shows. */
function pattern(size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = i % 251;
  return buf;
}

/**
 * A port where connect() hangs: a child process listens with a backlog of 1
 * and never accepts (its thread is blocked), and the kernel's accept queue is
 * filled, so further SYNs are dropped. Resolves once a plain Node connect to
 * it has stayed pending.
 */
async function blackhole(): Promise<{ port: number; close: () => Promise<void> }> {
  const child: ChildProcess = spawnProcess(process.execPath, ['-e', `
    const server = require('net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: nodeNet.Socket[] = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // Resolves once every descriptor it opened is closed, so the next test counts from a quiet state.
  const close = async (): Promise<void> => {
    const closed = fillers.map((s) => new Promise((resolve) => (s.closed ? resolve(null) : s.once('close', resolve))));
    for (const s of fillers) s.destroy();
    child.kill('SIGKILL');
    await Promise.all([...closed, exited]);
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString())));
      child.once('exit', () => reject(new Error('the blackhole child exited')));
    });
    for (let i = 0; i < 20; i++) {
      const s = nodeNet.connect(port, '127.0.0.1');
      s.on('error', () => {});
      fillers.push(s);
      const connected = await new Promise<boolean>((resolve) => {
        s.once('connect', () => resolve(true));
        setTimeout(() => resolve(false), 300);
      });
      if (!connected) return { port, close };
    }
    throw new Error('could not fill the accept queue of the blackhole child');
  } catch (err) {
    await close();
    throw err;
  }
}

describe('stackful/net: reading and writing', () => {
  afterEach(closeOpened);

  it('an echo server and a client, each in fibers, exchange lines and bytes', async () => {
    const result = await runInFiber(() => {
      const server = listen(0, '127.0.0.1');
      try {
        const echo = spawn(() => {
          const sock = server.accept();
          try {
            for (let data; (data = sock.read()) !== null; ) sock.write(data);
            sock.end();
          } finally {
            sock.close();
          }
        });
        const client = connect(server.port!, '127.0.0.1');
        const got: unknown[] = [];
        client.write('hello\n');
        got.push(client.readLine());
        client.write(Buffer.from([0, 1, 2, 255]));
        got.push([...client.read(4)!]);
        client.write(new Uint8Array([7, 8]));
        got.push([...client.read(2)!]);
        client.end('bye');
        got.push(client.readAll().toString());
        got.push(client.read());
        echo.join();
        got.push(echo.successful());
        got.push([client.remoteAddress, client.remotePort === server.port, typeof client.localPort]);
        client.close();
        return got;
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, ['hello', [0, 1, 2, 255], [7, 8], 'bye', null, true, ['127.0.0.1', true, 'number']]);
  });

  it('read(n) returns exactly n bytes across chunk boundaries, then the rest at EOF, then null', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        // Separate writes with a pause between them arrive as separate chunks (noDelay).
        const writer = spawn(() => {
          for (const piece of ['ab', 'cde', 'fghij', 'k', 'lmnopq']) {
            peer.write(piece);
            sleep(5);
          }
          peer.end();
        });
        const reads = [client.read(4), client.read(1), client.read(5), client.read(0), client.read(100), client.read(3), client.read()];
        writer.join();
        return reads.map((b) => (b === null ? null : b.toString()));
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, ['abcd', 'e', 'fghij', '', 'klmnopq', null, null]);
  });

  it('readLine() strips "\\n" and "\\r\\n", decodes characters split across chunks, and returns a partial last line at EOF', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        const e = Buffer.from('é'); // two bytes, sent in two chunks
        const writer = spawn(() => {
          for (const piece of [Buffer.from('one\r\ntw'), Buffer.from('o\n\n'), Buffer.from([0x63, e[0]!]), Buffer.from([e[1]!, 0x0d, 0x0a]), Buffer.from('a\rb\nlast')]) {
            peer.write(piece);
            sleep(5);
          }
          peer.end();
        });
        const lines: Array<string | null> = [];
        for (let i = 0; i < 7; i++) lines.push(client.readLine());
        writer.join();
        return lines;
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, ['one', 'two', '', 'cé', 'a\rb', 'last', null]);
  });

  it('readLine() throws ERR_LINE_TOO_LONG past maxLength (default 64 KiB) without buffering the rest of the line, and the socket stays usable', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        const writer = spawn(() => {
          peer.write(`${'a'.repeat(10)}\n`);
          peer.write(`${'b'.repeat(11)}\r\n`);
          // 8 MiB with no newline: a reader that buffered it all would hold 8 MiB.
          const block = Buffer.alloc(64 * 1024, 0x63);
          for (let i = 0; i < 128 && !peer.closed; i++) peer.write(block);
        });
        const exact = client.readLine({ maxLength: 10 });
        const over = codeOf(() => client.readLine({ maxLength: 10 }));
        const afterOver = client.read(11)!.toString(); // the long line is still there, in full
        const crlf = client.readLine();
        const big = (() => {
          try {
            client.readLine();
            return undefined;
          } catch (err) {
            return { code: (err as { code?: string }).code, message: (err as Error).message };
          }
        })();
        const takenIn = client.nodeSocket.bytesRead; // off the kernel, into this process
        client.close();
        writer.kill();
        return { exact, over, afterOver, crlf, big: big?.code, mentions: /more than 65536 bytes/.test(big?.message ?? ''), takenInMiB: Math.ceil(takenIn / (1024 * 1024)) };
      } finally {
        server.close();
      }
    });
    assert.equal(result.exact, 'a'.repeat(10));
    assert.equal(result.over, 'ERR_LINE_TOO_LONG');
    assert.equal(result.afterOver, 'b'.repeat(11));
    assert.equal(result.crlf, '');
    assert.equal(result.big, 'ERR_LINE_TOO_LONG');
    assert.equal(result.mentions, true);
    // What the socket took in before the error: the 64 KiB limit plus flow-control slack, not 8 MiB.
    assert.ok(result.takenInMiB <= 2, `took in ${result.takenInMiB} MiB`);
  });

  it('readLine() rejects a bad maxLength or options with ERR_INVALID_ARG_TYPE', async () => {
    const codes = await runInFiber(() => {
      const { client, server } = pair();
      try {
        return [codeOf(() => client.readLine({ maxLength: 0 })), codeOf(() => client.readLine({ maxLength: 1.5 })), codeOf(() => client.readLine(null as never))];
      } finally {
        server.close();
      }
    });
    assert.deepEqual(codes, ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_TYPE']);
  });

  it('readLine() and read() share one buffer: what one call leaves, the next gets', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        peer.end('head\nbody bytes\ntail');
        return [client.readLine(), client.read(4)!.toString(), client.readLine(), client.readAll().toString(), client.readLine()];
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, ['head', 'body', ' bytes', 'tail', null]);
  });

  it('at EOF read() is null and readAll() empty, and a half-closed socket can still send (end() is a half-close)', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        client.end('request'); // the client is done sending
        const request = peer.readAll().toString(); // until the client's FIN
        const atEof = [peer.read(), peer.read(3), peer.readLine(), peer.readAll().length];
        peer.write('reply after your FIN');
        peer.end();
        const reply = client.readAll().toString();
        return { request, atEof, reply, clientEof: client.read() };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { request: 'request', atEof: [null, null, null, 0], reply: 'reply after your FIN', clientEof: null });
  });

  it('write() parks the writer while the reader does not read (back-pressure), and all 16 MiB arrive intact', async () => {
    const TOTAL = 16 * 1024 * 1024;
    const CHUNK = 64 * 1024;
    const data = pattern(TOTAL);
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        let written = 0;
        let inWrite = false;
        const writer = spawn(() => {
          for (let off = 0; off < TOTAL; off += CHUNK) {
            inWrite = true;
            client.write(data.subarray(off, off + CHUNK));
            inWrite = false;
            written += CHUNK;
          }
          client.end();
        });
        // The reader reads nothing until the writer stops making progress.
        assert.ok(stalled(() => written, () => inWrite), 'the writer never stopped');
        const blockedAt = written;
        for (let i = 0; i < 20; i++) sleep(0); // every ready fiber runs, many times: still parked
        sleep(20);
        const parked = { inWrite, state: writer.fiber.state, unchanged: written === blockedAt, partial: blockedAt < TOTAL };
        // Now read, and yield after each read: the writer resumes once enough is consumed.
        const chunks: Buffer[] = [];
        let consumed = 0;
        while (written === blockedAt && consumed < TOTAL) {
          const b = peer.read(CHUNK)!;
          chunks.push(b);
          consumed += b.length;
          sleep(0);
        }
        const resumed = written > blockedAt;
        for (let b; (b = peer.read()) !== null; ) chunks.push(b);
        writer.join();
        const received = Buffer.concat(chunks);
        return { parked, resumed, length: received.length, intact: received.equals(data) };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, {
      parked: { inWrite: true, state: 'suspended', unchanged: true, partial: true },
      resumed: true,
      length: TOTAL,
      intact: true,
    });
  });

  it('keeps the read buffer bounded: above highWaterMark the Node socket is paused, and resumed as the fiber reads', async () => {
    const HWM = 16 * 1024;
    const TOTAL = 4 * 1024 * 1024;
    const data = pattern(TOTAL);
    const result = await runInFiber(() => {
      const { client, peer, server } = pair({ highWaterMark: HWM });
      try {
        const writer = spawn(() => client.end(data));
        // Nobody reads: the buffer stops growing once it is over the mark.
        assert.ok(stalled(() => peer.buffered, () => peer.buffered >= HWM), 'the read buffer never settled');
        const idle = { buffered: peer.buffered, paused: peer.nodeSocket.isPaused() };
        // Read slowly, a little at a time, watching the buffer.
        let maxBuffered = 0;
        const chunks: Buffer[] = [];
        for (let b; ; ) {
          maxBuffered = Math.max(maxBuffered, peer.buffered);
          if ((b = peer.read(4096)) === null) break;
          chunks.push(b);
          if (chunks.length % 64 === 0) sleep(1);
        }
        writer.join();
        return { idle, maxBuffered, intact: Buffer.concat(chunks).equals(data) };
      } finally {
        server.close();
      }
    });
    // At most one more chunk (64 KiB, Node's read size) arrives after the pause.
    assert.equal(result.idle.paused, true);
    assert.ok(result.idle.buffered >= HWM && result.idle.buffered <= HWM + 64 * 1024, `idle buffer ${result.idle.buffered}`);
    assert.ok(result.maxBuffered <= HWM + 64 * 1024, `the buffer grew to ${result.maxBuffered}`);
    assert.equal(result.intact, true);
  });

  it('read(n) with n above highWaterMark still gets its n bytes (the buffer grows to what the read needs)', async () => {
    const data = pattern(1024 * 1024);
    const result = await runInFiber(() => {
      const { client, peer, server } = pair({ highWaterMark: 1024 });
      try {
        const writer = spawn(() => client.end(data));
        const big = peer.read(600 * 1024)!;
        const line = peer.readLine('latin1'); // pattern bytes include 10 ("\n")
        const rest = peer.readAll();
        writer.join();
        return { big: big.equals(data.subarray(0, 600 * 1024)), total: big.length + Buffer.byteLength(line!, 'latin1') + 1 + rest.length };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { big: true, total: 1024 * 1024 });
  });
});

describe('stackful/net: servers', () => {
  afterEach(closeOpened);

  it('serves 200 concurrent connections, one greenlet each, while a timer keeps firing', async () => {
    const N = 200;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      const result = await runInFiber(() => {
        const everyoneIn = new Event();
        let connected = 0;
        let handled = 0;
        const server = listen(0, '127.0.0.1');
        try {
          server.serve(function greet(sock) {
            // Every handler waits until all N are connected at once: proof they run concurrently.
            if (++connected === N) everyoneIn.set();
            if (!everyoneIn.wait(20_000)) throw new Error(`only ${connected} of ${N} connected`);
            const name = sock.readLine();
            sock.write(`hello ${name}\n`);
            handled++;
          });
          const clients = Array.from({ length: N }, (_, i) => spawn(() => {
            const sock = connect(server.port!, '127.0.0.1');
            try {
              sock.write(`client ${i}\n`);
              return [sock.readLine(), sock.readLine()];
            } finally {
              sock.close();
            }
          }));
          for (const c of clients) c.join();
          return { replies: clients.map((c) => c.get()), handled, ticksWhileServing: ticks };
        } finally {
          server.close();
        }
      });
      // The handler returned, so its socket was closed: the second readLine() is EOF.
      assert.deepEqual(result.replies, Array.from({ length: N }, (_, i) => [`hello client ${i}`, null]));
      assert.equal(result.handled, N);
      assert.ok(result.ticksWhileServing > 0, 'the timer never fired while the connections were served');
    } finally {
      clearInterval(ticker);
    }
  });

  it('queues connections that arrive while nobody accepts, and accept() takes them in order', async () => {
    const result = await runInFiber(() => {
      const server = listen(0, '127.0.0.1');
      try {
        const clients: Socket[] = [];
        for (let i = 0; i < 3; i++) {
          const c = connect(server.port!, '127.0.0.1');
          c.write(`${i}\n`);
          clients.push(c);
        }
        until(() => server.pending === 3);
        const pending = server.pending;
        const accepted = [0, 1, 2].map(() => server.accept());
        const order = accepted.map((sock) => sock.readLine());
        for (const sock of [...clients, ...accepted]) sock.close();
        return { pending, order };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { pending: 3, order: ['0', '1', '2'] });
  });

  it('closes connections beyond maxPending that nobody accepts, so an idle server holds bounded memory', async () => {
    const result = await runInFiber(() => {
      const server = listen({ port: 0, host: '127.0.0.1', maxPending: 2 });
      try {
        const clients = Array.from({ length: 5 }, () => connect(server.port!, '127.0.0.1'));
        // Each client reads: the ones past the limit see EOF (closed by the server).
        const reads = clients.map((c) => spawn(() => c.readLine()));
        until(() => reads.filter((r) => r.dead).length === 3);
        const closedEarly = reads.filter((r) => r.dead).length;
        const pending = server.pending;
        const accepted = [server.accept(), server.accept()];
        for (const sock of accepted) sock.write('welcome\n');
        for (const r of reads) r.join(5000);
        for (const sock of [...clients, ...accepted]) sock.close();
        return { closedEarly, pending, lines: reads.map((r) => r.get()).sort() };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { closedEarly: 3, pending: 2, lines: [null, null, null, 'welcome', 'welcome'] });
  });

  it('serve() takes the queued connections too; serveForever() returns when another fiber closes the server', async () => {
    const result = await runInFiber(() => {
      const server = listen(0, '127.0.0.1');
      const early = connect(server.port!, '127.0.0.1');
      until(() => server.pending === 1);
      const forever = spawn(() => server.serveForever((sock) => sock.write(`served ${sock.remotePort}\n`)));
      const line = early.readLine();
      early.close();
      const acceptWhileServing = codeOf(() => server.accept());
      server.close();
      const returned = forever.join(5_000);
      return { line, localPort: early.localPort, acceptWhileServing, returned, closedAccept: codeOf(() => server.accept()) };
    });
    assert.equal(result.line, `served ${result.localPort}`);
    assert.deepEqual([result.acceptWhileServing, result.returned, result.closedAccept], ['ERR_SERVER_SERVING', true, 'ERR_SERVER_CLOSED']);
  });

  it('a fiber killed in serveForever() closes the server', async () => {
    const result = await runInFiber(() => {
      const server = listen(0, '127.0.0.1');
      const forever = spawn(() => server.serveForever(() => {}));
      sleep(10);
      forever.kill();
      let refused: string | undefined;
      try {
        connect(server.port!, '127.0.0.1').close();
      } catch (err) {
        refused = (err as NodeJS.ErrnoException).code;
      }
      return { closed: server.closed, refused };
    });
    assert.deepEqual(result, { closed: true, refused: 'ECONNREFUSED' });
  });

  it('works over a Unix domain socket too (listen and connect with a path)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-net-'));
    const file = path.join(dir, 'sock');
    try {
      const result = await runInFiber(() => {
        const server = listen({ path: file });
        try {
          const client = connect({ path: file });
          const peer = server.accept();
          client.write('over a Unix socket\n');
          const line = peer.readLine();
          client.close();
          const eof = peer.read();
          peer.close();
          return { address: server.address(), name: String(server), line, eof };
        } finally {
          server.close();
        }
      });
      assert.deepEqual(result, { address: file, name: `Server (${file})`, line: 'over a Unix socket', eof: null });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('listen() on a port in use throws Node\'s own EADDRINUSE', async () => {
    const taken = nodeNet.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as nodeNet.AddressInfo).port;
    try {
      const nodeError = await new Promise((resolve) => {
        const other = nodeNet.createServer();
        other.once('error', resolve);
        other.listen(port, '127.0.0.1');
      });
      const ours = await runInFiber(() => {
        try {
          listen(port, '127.0.0.1');
          return 'listened';
        } catch (err) {
          return errorFields(err);
        }
      });
      assert.equal((nodeError as NodeJS.ErrnoException).code, 'EADDRINUSE');
      assert.deepEqual(ours, errorFields(nodeError));
    } finally {
      taken.close();
    }
  });
});

describe('stackful/net: errors and timeouts', () => {
  afterEach(closeOpened);

  it('connect() to a closed port throws ECONNREFUSED with Node\'s own fields', async () => {
    const probe = nodeNet.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as nodeNet.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
    const nodeError = await new Promise((resolve) => nodeNet.connect(port, '127.0.0.1').once('error', resolve));
    const ours = await runInFiber(() => {
      try {
        connect(port, '127.0.0.1');
        return 'connected';
      } catch (err) {
        return errorFields(err);
      }
    });
    assert.equal((nodeError as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.deepEqual(ours, errorFields(nodeError));
  });

  it('an error on an idle socket is thrown by the next read and write, after the data that came before it, never as an unhandled event', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        peer.write('last words');
        until(() => client.buffered === 10);
        peer.nodeSocket.resetAndDestroy(); // an RST: ECONNRESET on the client, while nobody reads it
        until(() => client.nodeSocket.destroyed);
        const first = client.read()!.toString();
        const onRead = codeOf(() => client.read());
        const onWrite = codeOf(() => client.write('anyone?'));
        const again = codeOf(() => client.readLine());
        client.close();
        return { first, onRead, onWrite, again, afterClose: codeOf(() => client.read()) };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { first: 'last words', onRead: 'ECONNRESET', onWrite: 'ECONNRESET', again: 'ECONNRESET', afterClose: 'ERR_SOCKET_CLOSED' });
  });

  it('a read that waits longer than the timeout throws TimeoutError, and the socket keeps working', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        client.setTimeout(30);
        const outcomes: unknown[] = [];
        for (const call of [() => client.read(), () => client.readLine(), () => client.read(1), () => client.readAll()]) {
          try {
            call();
            outcomes.push('returned');
          } catch (err) {
            outcomes.push(err instanceof TimeoutError ? (err as TimeoutError).code : err);
          }
        }
        peer.write('partial');
        const timedOutLine = codeOf(() => client.readLine()); // "partial" stays buffered
        peer.write(' line\n');
        const line = client.readLine();
        client.setTimeout(undefined);
        return { outcomes, timedOutLine, line, timeout: client.timeout };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, {
      outcomes: ['ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT'],
      timedOutLine: 'ERR_FIBER_TIMEOUT',
      line: 'partial line',
      timeout: undefined,
    });
  });

  it('a write the peer does not drain, an accept and a connect time out too', async () => {
    const hole = await blackhole();
    try {
      const result = await runInFiber(() => {
        // listen()'s timeout is for the accepted sockets; accept() takes its own.
        const { client, peer, server } = pair({ timeout: 30 });
        try {
          client.setTimeout(30);
          const peerRead = codeOf(() => peer.read());
          const big = Buffer.alloc(1024 * 1024);
          let write: string | undefined;
          for (let i = 0; write === undefined && i < 256; i++) write = codeOf(() => client.write(big));
          const accept = codeOf(() => server.accept({ timeout: 30 }));
          const conn = codeOf(() => connect({ port: hole.port, host: '127.0.0.1', timeout: 50 }));
          return [peerRead, write, accept, conn];
        } finally {
          client.close();
          server.close();
        }
      });
      assert.deepEqual(result, ['ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT', 'ERR_FIBER_TIMEOUT']);
    } finally {
      await hole.close();
    }
  });

  it('a connect that times out destroys its half-open socket', async () => {
    const hole = await blackhole();
    try {
      const result = await runInFiber(() => {
        const before = fds();
        const connecting = connectingTo(hole.port); // the filler stuck in SYN_SENT
        let during = { fds: 0, connecting: 0 };
        const watcher = spawn(() => {
          sleep(20);
          during = { fds: fds() - before, connecting: connectingTo(hole.port) - connecting };
        });
        const code = codeOf(() => connect({ port: hole.port, host: '127.0.0.1', timeout: 100 }));
        watcher.join();
        const leaked = fdsSettledAt(before) - before;
        return { code, during, after: { fds: leaked, connecting: connectingTo(hole.port) - connecting } };
      });
      assert.deepEqual(result, { code: 'ERR_FIBER_TIMEOUT', during: { fds: 1, connecting: 1 }, after: { fds: 0, connecting: 0 } });
    } finally {
      await hole.close();
    }
  });
});

describe('stackful/net: killed while blocked', () => {
  afterEach(closeOpened);

  it('a fiber killed in read() runs its finally; the socket stays usable by another fiber; no descriptor leaks', async () => {
    const result = await runInFiber(() => {
      const before = fds();
      const { client, peer, server } = pair();
      const log: string[] = [];
      const reader = spawn(() => {
        try {
          client.read(5);
          log.push('read returned');
        } finally {
          log.push('finally');
        }
      });
      peer.write('abc'); // not enough for read(5)
      until(() => client.buffered === 3);
      reader.kill();
      peer.write('de');
      const next = client.read(5)!.toString(); // nothing was lost, and the socket is not "busy"
      client.close();
      peer.close();
      server.close();
      return { log, next, leaked: fdsSettledAt(before) - before };
    });
    assert.deepEqual(result, { log: ['finally'], next: 'abcde', leaked: 0 });
  });

  it('a fiber killed in accept() runs its finally; the next connection waits for the next accept(); no descriptor leaks', async () => {
    const result = await runInFiber(() => {
      const before = fds();
      const server = listen(0, '127.0.0.1');
      const log: string[] = [];
      const acceptor = spawn(() => {
        try {
          server.accept();
          log.push('accepted');
        } finally {
          log.push('finally');
        }
      });
      sleep(10);
      acceptor.kill();
      const client = connect(server.port!, '127.0.0.1');
      until(() => server.pending === 1);
      const pending = server.pending;
      const peer = server.accept();
      client.write('ok\n');
      const line = peer.readLine();
      client.close();
      peer.close();
      server.close();
      return { log, pending, line, leaked: fdsSettledAt(before) - before };
    });
    assert.deepEqual(result, { log: ['finally'], pending: 1, line: 'ok', leaked: 0 });
  });

  it('a fiber killed in write() runs its finally; what it wrote still arrives whole, in order; no descriptor leaks', async () => {
    const CHUNK = 256 * 1024;
    const result = await runInFiber(() => {
      const before = fds();
      const { client, peer, server } = pair();
      const log: string[] = [];
      let accepted = 0;
      const writer = spawn(() => {
        try {
          // Bounded: far more than the kernel buffers hold, so it must block before the end.
          for (let i = 0; i < 400; i++) {
            client.write(Buffer.alloc(CHUNK, i % 256));
            accepted++;
          }
        } finally {
          log.push('finally');
        }
      });
      const blocked = stalled(() => accepted, () => writer.fiber.state === 'suspended');
      writer.kill();
      // The socket is still consistent: what is written after the kill goes out after it.
      const ender = spawn(() => client.end('end'));
      const received = peer.readAll();
      ender.join();
      // The killed write had been handed to Node already: it arrives too.
      const writes = accepted + 1;
      let intact = received.length === writes * CHUNK + 3 && received.subarray(writes * CHUNK).toString() === 'end';
      for (let i = 0; intact && i < writes; i++) intact = received[i * CHUNK] === i % 256 && received[(i + 1) * CHUNK - 1] === i % 256;
      client.close();
      peer.close();
      server.close();
      return { blocked, log, intact, leaked: fdsSettledAt(before) - before };
    });
    assert.deepEqual(result, { blocked: true, log: ['finally'], intact: true, leaked: 0 });
  });

  it('a fiber killed in connect() runs its finally and destroys the half-open socket', async () => {
    const hole = await blackhole();
    try {
      const result = await runInFiber(() => {
        const before = fds();
        const connecting = connectingTo(hole.port); // the filler stuck in SYN_SENT
        const log: string[] = [];
        const connector = spawn(() => {
          try {
            connect(hole.port, '127.0.0.1');
            log.push('connected');
          } finally {
            log.push('finally');
          }
        });
        sleep(30);
        // The connecting socket's descriptor, and its SYN_SENT entry in the kernel.
        const during = { fds: fds() - before, connecting: connectingTo(hole.port) - connecting };
        connector.kill();
        const leaked = fdsSettledAt(before) - before;
        return { log, during, dead: connector.dead, after: { fds: leaked, connecting: connectingTo(hole.port) - connecting } };
      });
      assert.deepEqual(result, { log: ['finally'], during: { fds: 1, connecting: 1 }, dead: true, after: { fds: 0, connecting: 0 } });
    } finally {
      await hole.close();
    }
  });

  it('close() from another fiber wakes a parked reader with ERR_SOCKET_CLOSED', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        const reader = spawn(() => codeOf(() => client.readLine()));
        sleep(10);
        client.close();
        client.close(); // again: nothing
        return { reader: reader.get({ timeout: 5_000 }), closed: client.closed };
      } finally {
        peer.close();
        server.close();
      }
    });
    assert.deepEqual(result, { reader: 'ERR_SOCKET_CLOSED', closed: true });
  });
});

describe('stackful/net: usage errors', () => {
  afterEach(closeOpened);

  it('every call that may block throws ERR_BLOCKING_ON_ROOT on the root fiber; close() works there', async () => {
    assert.equal(codeOf(() => connect(1, '127.0.0.1')), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => listen(0, '127.0.0.1')), 'ERR_BLOCKING_ON_ROOT');
    assert.throws(() => connect(1), /cannot connect on the root fiber.*spawn\(\) or runInFiber\(\)/);
    const { client, server } = await runInFiber(() => pair());
    try {
      assert.equal(Fiber.current, Fiber.root);
      const calls: Array<[string, () => unknown]> = [
        ['read', () => client.read()],
        ['read(1)', () => client.read(1)],
        ['readLine', () => client.readLine()],
        ['readAll', () => client.readAll()],
        ['write', () => client.write('x')],
        ['end', () => client.end()],
        ['accept', () => server.accept()],
        ['serveForever', () => server.serveForever(() => {})],
      ];
      for (const [name, call] of calls) assert.equal(codeOf(call), 'ERR_BLOCKING_ON_ROOT', name);
    } finally {
      client.close();
      server.close();
    }
    assert.equal(client.closed, true);
    assert.equal(server.closed, true);
  });

  it('a second fiber reading the same socket gets ERR_SOCKET_BUSY; writing after end() gets ERR_SOCKET_ENDED', async () => {
    const result = await runInFiber(() => {
      const { client, peer, server } = pair();
      try {
        const first = spawn(() => client.readLine());
        sleep(5);
        const busy = codeOf(() => client.read());
        peer.write('for the first\n');
        const firstGot = first.get({ timeout: 5_000 });
        client.end();
        return { busy, firstGot, ended: codeOf(() => client.write('late')), endAgain: codeOf(() => client.end()) };
      } finally {
        server.close();
      }
    });
    assert.deepEqual(result, { busy: 'ERR_SOCKET_BUSY', firstGot: 'for the first', ended: 'ERR_SOCKET_ENDED', endAgain: undefined });
  });

  it('rejects bad arguments with TypeError and RangeError', async () => {
    const result = await runInFiber(() => {
      const { client, server } = pair();
      try {
        return [
          codeOf(() => client.write(42 as never)),
          codeOf(() => client.read(-1)),
          codeOf(() => client.read(1.5)),
          codeOf(() => client.read('3' as never)),
          codeOf(() => client.setTimeout(-5)),
          codeOf(() => connect({ port: 1, host: '127.0.0.1', highWaterMark: 0 })),
        ];
      } finally {
        client.close();
        server.close();
      }
    });
    assert.deepEqual(result, ['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE']);
  });
});
