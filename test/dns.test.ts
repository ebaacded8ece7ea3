import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as nodeDns from 'node:dns';
import { runInFiber, sleep, spawn, joinAll, Timeout, TimeoutError } from 'stackful';
import * as dns from 'stackful/dns';
import { codeOf } from './helpers';

// --- a tiny DNS server on 127.0.0.1, answering from a fixed zone ------------
// Tests cannot use the network: the resolvers under test are pointed at it.

const TYPES = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;
type RecordType = keyof typeof TYPES;

interface Records {
  A?: string[];
  AAAA?: string[];
  MX?: Array<[priority: number, exchange: string]>;
  TXT?: string[][];
  PTR?: string[];
}

function encodeName(name: string): Buffer {
  const labels = name.split('.').filter((label) => label !== '');
  return Buffer.concat([...labels.map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii')])), Buffer.from([0])]);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const h = groups(head!);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

function rdataOf(type: RecordType, value: unknown): Buffer {
  switch (type) {
    case 'A':
      return Buffer.from((value as string).split('.').map(Number));
    case 'AAAA':
      return ipv6Bytes(value as string);
    case 'MX': {
      const [priority, exchange] = value as [number, string];
      const pref = Buffer.alloc(2);
      pref.writeUInt16BE(priority);
      return Buffer.concat([pref, encodeName(exchange)]);
    }
    case 'TXT':
      return Buffer.concat((value as string[]).map((s) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)])));
    default:
      return encodeName(value as string);
  }
}

interface Query {
  id: number;
  name: string;
  type: number;
  /** The question section, copied into the answer as it came. */
  question: Buffer;
}

function parseQuery(msg: Buffer): Query {
  let offset = 12;
  const labels: string[] = [];
  while (msg[offset] !== 0) {
    const length = msg[offset]!;
    labels.push(msg.toString('ascii', offset + 1, offset + 1 + length));
    offset += length + 1;
  }
  offset += 1;
  const type = msg.readUInt16BE(offset);
  offset += 4; // type and class
  return { id: msg.readUInt16BE(0), name: labels.join('.').toLowerCase(), type, question: msg.subarray(12, offset) };
}

/** The answer to `query`: its records of the asked type, NOERROR without any (ENODATA), or NXDOMAIN (ENOTFOUND) for unknown names. */
function answer(query: Query, zone: Record<string, Records>): Buffer {
  const records = zone[query.name];
  const type = (Object.keys(TYPES) as RecordType[]).find((name) => TYPES[name] === query.type);
  const values: unknown[] = records && type ? ((records as Record<string, unknown[]>)[type] ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  header.writeUInt16BE(0x8180 | (records ? 0 : 3), 2); // a response, recursion desired and available; rcode 3 = NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(values.length, 6);
  const answers = values.map((value) => {
    const rdata = rdataOf(type!, value);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(query.type, 2);
    rr.writeUInt16BE(1, 4); // class IN
    rr.writeUInt32BE(300, 6); // TTL
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.question, ...answers]);
}

interface DnsServer {
  server: string;
  /** Every query received, as 'TYPE name'. */
  queries: string[];
  /** Decides when to answer: call reply() now, later, or never. Default: now. */
  onQuery: (query: Query, reply: () => void) => void;
  close(): Promise<void>;
}

async function startDnsServer(zone: Record<string, Records>): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const s: DnsServer = {
    server: '',
    queries: [],
    onQuery: (query, reply) => reply(),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg, from) => {
    const query = parseQuery(msg);
    const typeName = (Object.keys(TYPES) as RecordType[]).find((name) => TYPES[name] === query.type) ?? String(query.type);
    s.queries.push(`${typeName} ${query.name}`);
    s.onQuery(query, () => socket.send(answer(query, zone), from.port, from.address));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  s.server = `127.0.0.1:${socket.address().port}`;
  return s;
}

const ZONE: Record<string, Records> = {
  'a.test': { A: ['10.0.0.1', '10.0.0.2'], AAAA: ['2001:db8::1', '::1'] },
  'mx.test': { MX: [[10, 'mail.a.test'], [20, 'backup.a.test']] },
  'txt.test': { TXT: [['v=spf1 -all'], ['hello', 'world']] },
  '1.0.0.10.in-addr.arpa': { PTR: ['a.test'] },
  'hang.test': { A: ['10.9.9.9'] },
};

/** What a call produced: its value, or its error's name, message, code, errno, syscall and hostname. */
function outcome(run: () => unknown): unknown {
  try {
    return { value: run() };
  } catch (err) {
    return { error: errorShape(err) };
  }
}

function errorShape(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  return { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, hostname: e.hostname };
}

/** The same with Node's own callback API: `call(callback)` may also throw at once. */
function nodeOutcome(call: (callback: (err: Error | null, ...results: unknown[]) => void) => void): Promise<unknown> {
  return new Promise((resolve) => {
    try {
      call((err, ...results) => resolve(err ? { error: errorShape(err) } : { value: results.length > 1 ? results : results[0] }));
    } catch (err) {
      resolve({ error: errorShape(err) });
    }
  });
}

/** MX records as [exchange, priority] (Node 24 and later add `type: 'MX'` to each). */
const mx = (records: nodeDns.MxRecord[]): Array<[string, number]> => records.map((r) => [r.exchange, r.priority]);

describe('stackful/dns: lookup()', () => {
  it('gives what dns.lookup\'s callback gives: { address, family }, or an array with all', async () => {
    const cases: Array<[string, unknown[]]> = [
      ['localhost', []],
      ['localhost', [{ all: true }]],
      ['localhost', [{ family: 4 }]],
      ['localhost', [4]],
      ['127.0.0.1', []],
      ['::1', [{ all: true }]],
    ];
    const expected: unknown[] = [];
    for (const [host, options] of cases) {
      expected.push(await nodeOutcome((cb) => (nodeDns.lookup as (...args: unknown[]) => void)(host, ...options, cb)));
    }
    const normalized = expected.map((e) => {
      const value = (e as { value?: unknown }).value;
      return Array.isArray(value) && typeof value[0] === 'string' ? { value: { address: value[0], family: value[1] } } : e;
    });
    const ours = await runInFiber(() => cases.map(([host, options]) => outcome(() => (dns.lookup as (...args: unknown[]) => unknown)(host, ...options))));
    assert.deepEqual(ours, normalized);
    assert.deepEqual((ours[0] as { value: unknown }).value, { address: '127.0.0.1', family: 4 });
  });

  it('checks arguments as Node does (same errors, same codes)', async () => {
    const bad: unknown[][] = [[42], ['localhost', { family: 7 }], ['localhost', 'nope']];
    const expected: unknown[] = [];
    for (const args of bad) expected.push(await nodeOutcome((cb) => (nodeDns.lookup as (...a: unknown[]) => void)(...args, cb)));
    const ours = await runInFiber(() => bad.map((args) => outcome(() => (dns.lookup as (...a: unknown[]) => unknown)(...args))));
    assert.deepEqual(ours, expected);
    assert.equal((ours[0] as { error: { code: string } }).error.code, 'ERR_INVALID_ARG_TYPE');
  });

  it('lookupService() gives { hostname, service } as Node\'s callback does', async () => {
    const expected = await nodeOutcome((cb) => nodeDns.lookupService('127.0.0.1', 22, cb));
    const ours = await runInFiber(() => outcome(() => dns.lookupService('127.0.0.1', 22)));
    const value = (expected as { value?: [string, string] }).value;
    assert.deepEqual(ours, value ? { value: { hostname: value[0], service: value[1] } } : expected);
  });

  it('parks only the calling fiber: a tick runs before it returns', async () => {
    const seen = await runInFiber(() => {
      let ticked = false;
      process.nextTick(() => (ticked = true));
      dns.lookup('localhost');
      return ticked;
    });
    assert.equal(seen, true);
  });
});

describe('stackful/dns: resolve*() and Resolver', () => {
  let server: DnsServer;
  beforeEach(async () => {
    server = await startDnsServer(ZONE);
  });
  afterEach(async () => {
    await server.close();
  });

  const queries: Array<[string, unknown[]]> = [
    ['resolve4', ['a.test']],
    ['resolve4', ['a.test', { ttl: true }]],
    ['resolve6', ['a.test']],
    ['resolve6', ['a.test', { ttl: true }]],
    ['resolveMx', ['mx.test']],
    ['resolveTxt', ['txt.test']],
    ['resolve', ['a.test']],
    ['resolve', ['a.test', 'AAAA']],
    ['resolve', ['mx.test', 'MX']],
    ['resolve', ['txt.test', 'TXT']],
    ['resolvePtr', ['1.0.0.10.in-addr.arpa']],
    ['reverse', ['10.0.0.1']],
    ['resolve4', ['missing.test']],
    ['resolveMx', ['a.test']],
    ['resolve4', [42]],
    ['resolve', ['a.test', 'BOGUS']],
    ['reverse', ['not an ip']],
  ];

  it('gives what Node\'s own Resolver gives with the same servers: records, TTLs, ENOTFOUND, ENODATA, argument errors', async () => {
    const nodeResolver = new nodeDns.Resolver();
    nodeResolver.setServers([server.server]);
    const expected: unknown[] = [];
    for (const [method, args] of queries) {
      expected.push(await nodeOutcome((cb) => (nodeResolver as unknown as Record<string, (...a: unknown[]) => void>)[method]!(...args, cb)));
    }
    const ours = await runInFiber(() => {
      const resolver = new dns.Resolver();
      resolver.setServers([server.server]);
      return queries.map(([method, args]) => outcome(() => (resolver as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args)));
    });
    assert.deepEqual(ours, expected);
    // And the answers are the zone's, so the comparison above compared something.
    assert.deepEqual(ours.slice(0, 3), [
      { value: ['10.0.0.1', '10.0.0.2'] },
      { value: [{ address: '10.0.0.1', ttl: 300 }, { address: '10.0.0.2', ttl: 300 }] },
      { value: ['2001:db8::1', '::1'] },
    ]);
    assert.deepEqual(mx((ours[4] as { value: nodeDns.MxRecord[] }).value), [['mail.a.test', 10], ['backup.a.test', 20]]);
    assert.deepEqual(ours[5], { value: [['v=spf1 -all'], ['hello', 'world']] });
    assert.deepEqual(ours[11], { value: ['a.test'] });
    assert.deepEqual(ours.slice(12, 16).map((o) => (o as { error: { code: string } }).error.code), ['ENOTFOUND', 'ENODATA', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE']);
  });

  it('the module functions use the servers set with setServers(), as Node\'s do', async () => {
    const saved = dns.getServers();
    dns.setServers([server.server]);
    try {
      assert.deepEqual(dns.getServers(), nodeDns.getServers());
      const ours = await runInFiber(() => [dns.resolve4('a.test'), mx(dns.resolveMx('mx.test')), dns.resolveTxt('txt.test'), dns.reverse('10.0.0.1'), outcome(() => dns.resolve6('missing.test'))]);
      assert.deepEqual(ours.slice(0, 4), [
        ['10.0.0.1', '10.0.0.2'],
        [['mail.a.test', 10], ['backup.a.test', 20]],
        [['v=spf1 -all'], ['hello', 'world']],
        ['a.test'],
      ]);
      assert.equal((ours[4] as { error: { code: string } }).error.code, 'ENOTFOUND');
    } finally {
      dns.setServers(saved);
    }
  });

  it('getServers() and setServers() of a Resolver are Node\'s', () => {
    const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([server.server, '[::1]:5353']);
    const reference = new nodeDns.Resolver();
    reference.setServers([server.server, '[::1]:5353']);
    assert.deepEqual(resolver.getServers(), reference.getServers());
    assert.throws(() => resolver.setServers(['not an address']), (err: NodeJS.ErrnoException) => err.code === 'ERR_INVALID_IP_ADDRESS');
  });

  it('many fibers resolving at once are all in flight together while a timer keeps firing', async () => {
    const N = 20;
    const zone: Record<string, Records> = {};
    for (let i = 0; i < N; i++) zone[`slow-${i}.test`] = { A: [`10.1.0.${i}`] };
    const slow = await startDnsServer(zone);
    // The server answers nothing until every one of the N queries has arrived,
    // then answers them all after a delay: only overlapping queries can pass.
    const held = new Map<string, () => void>();
    let together = true;
    let maxPending = 0;
    slow.onQuery = (query, reply) => {
      held.set(query.name, reply);
      maxPending = Math.max(maxPending, held.size);
      if (held.size === N) setTimeout(() => held.forEach((r) => r()), 100);
    };
    const giveUp = setTimeout(() => {
      together = false;
      held.forEach((r) => r());
    }, 4000);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const results = await runInFiber(() => {
        const resolver = new dns.Resolver({ timeout: 10_000, tries: 1 });
        resolver.setServers([slow.server]);
        const fibers = Array.from({ length: N }, (_, i) => spawn(() => resolver.resolve4(`slow-${i}.test`)));
        joinAll(fibers, { raiseError: true });
        return fibers.map((g) => g.value);
      });
      assert.equal(together, true, 'the queries did not all arrive before any was answered');
      assert.equal(maxPending, N);
      assert.deepEqual(results, Array.from({ length: N }, (_, i) => [`10.1.0.${i}`]));
      assert.ok(ticks > 0, 'the timer did not fire while the fibers waited');
    } finally {
      clearTimeout(giveUp);
      clearInterval(ticker);
      await slow.close();
    }
  });

  it('throws ERR_BLOCKING_ON_ROOT on the root fiber, before any query is sent', async () => {
    const resolver = new dns.Resolver();
    resolver.setServers([server.server]);
    assert.equal(codeOf(() => resolver.resolve4('a.test')), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => resolver.reverse('10.0.0.1')), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => dns.resolveMx('mx.test')), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => dns.lookup('localhost')), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => dns.lookupService('127.0.0.1', 22)), 'ERR_BLOCKING_ON_ROOT');
    assert.match((() => {
      try {
        dns.resolve4('a.test');
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(), /dns\.resolve4\("a\.test"\).*run this code in a fiber/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(server.queries, []);
  });

  it('a fiber killed while it waits stops waiting and runs its finally; the late answer is dropped', async () => {
    server.onQuery = (query, reply) => {
      if (query.name !== 'hang.test') reply();
      else setTimeout(reply, 100); // answers after the fiber is gone
    };
    const log: string[] = [];
    await runInFiber(() => {
      const resolver = new dns.Resolver();
      resolver.setServers([server.server]);
      const g = spawn(() => {
        try {
          log.push(`got ${resolver.resolve4('hang.test')}`);
        } finally {
          log.push('finally');
        }
      });
      while (server.queries.length === 0) sleep(5);
      g.kill();
      log.push(`killed, dead: ${g.dead}`);
      sleep(150); // the answer arrives, and nobody takes it
      log.push(`next: ${resolver.resolve4('a.test')}`);
    });
    assert.deepEqual(log, ['finally', 'killed, dead: true', 'next: 10.0.0.1,10.0.0.2']);
  });

  it('a Timeout gives up waiting; cancel() ends every query of the resolver with Node\'s ECANCELLED', async () => {
    server.onQuery = (query, reply) => {
      if (query.name !== 'hang.test') reply();
    };
    const reference = new nodeDns.Resolver();
    reference.setServers([server.server]);
    const expected = nodeOutcome((cb) => reference.resolve4('hang.test', cb));
    while (server.queries.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    reference.cancel();
    const seen = await runInFiber(() => {
      const resolver = new dns.Resolver();
      resolver.setServers([server.server]);
      let timedOut: unknown;
      try {
        Timeout.run(50, () => resolver.resolve4('hang.test'));
      } catch (err) {
        timedOut = err;
      }
      const waiting = [spawn(() => outcome(() => resolver.resolve4('hang.test'))), spawn(() => outcome(() => resolver.resolveTxt('hang.test')))];
      sleep(20);
      resolver.cancel();
      joinAll(waiting);
      return { timedOut: timedOut instanceof TimeoutError, cancelled: waiting.map((g) => g.value) };
    });
    assert.equal(seen.timedOut, true);
    const nodeCancelled = await expected;
    assert.equal((nodeCancelled as { error: { code: string } }).error.code, 'ECANCELLED');
    assert.deepEqual(seen.cancelled[0], nodeCancelled);
    assert.equal((seen.cancelled[1] as { error: { code: string } }).error.code, 'ECANCELLED');
  });
});
