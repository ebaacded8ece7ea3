import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { joinAll, killAll, runInFiber, sleep, spawn, wait } from 'stackful';
import { FS_COVERED, FS_NOT_COVERED, getOriginal, isPatched, patchAll, unpatchAll } from 'stackful/patch';
import { describeChild, report, runChild } from './helpers';

// The real module object (what require('fs') returns), not a namespace copy.
const nodeFs = createRequire(__filename)('fs') as typeof fs;

/** What a call produced, comparable across patched and original calls. */
function outcome(fn: () => unknown): unknown {
  try {
    const value = fn();
    if (value instanceof fs.Stats) return { stats: { size: value.size, isFile: value.isFile(), mode: value.mode } };
    if (Buffer.isBuffer(value)) return { buffer: value.toString('hex') };
    if (Array.isArray(value)) return { array: value.map((v) => (typeof v === 'object' && v !== null && 'name' in v ? v.name : v)).sort() };
    return { value };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { error: { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message } };
  }
}

function script(dir: string): Array<[string, () => unknown]> {
  const f = (name: string): string => path.join(dir, name);
  return [
    ['writeFileSync', () => nodeFs.writeFileSync(f('a.txt'), 'hello')],
    ['appendFileSync', () => nodeFs.appendFileSync(f('a.txt'), ' world')],
    ['readFileSync utf8', () => nodeFs.readFileSync(f('a.txt'), 'utf8')],
    ['readFileSync buffer', () => nodeFs.readFileSync(f('a.txt'))],
    ['statSync', () => nodeFs.statSync(f('a.txt'))],
    ['statSync missing, throwIfNoEntry false', () => nodeFs.statSync(f('nope'), { throwIfNoEntry: false })],
    ['statSync missing', () => nodeFs.statSync(f('nope'))],
    ['existsSync yes', () => nodeFs.existsSync(f('a.txt'))],
    ['existsSync no', () => nodeFs.existsSync(f('nope'))],
    ['existsSync bad type', () => nodeFs.existsSync(42 as never)],
    ['mkdirSync recursive', () => nodeFs.mkdirSync(f('d/e/g'), { recursive: true })],
    ['mkdirSync exists', () => nodeFs.mkdirSync(f('d'))],
    ['copyFileSync', () => nodeFs.copyFileSync(f('a.txt'), f('d/b.txt'))],
    ['renameSync', () => nodeFs.renameSync(f('d/b.txt'), f('d/c.txt'))],
    ['readdirSync', () => nodeFs.readdirSync(f('d'))],
    ['readdirSync withFileTypes', () => nodeFs.readdirSync(f('d'), { withFileTypes: true })],
    ['open/write/read/close', () => {
      const fd = nodeFs.openSync(f('n.bin'), 'w+');
      const written = nodeFs.writeSync(fd, Buffer.from('0123456789'));
      const buf = Buffer.alloc(4);
      const read = nodeFs.readSync(fd, buf, 0, 4, 3);
      nodeFs.closeSync(fd);
      return [written, read, buf.toString()];
    }],
    ['realpathSync', () => nodeFs.realpathSync(f('d/../a.txt'))],
    ['accessSync missing', () => nodeFs.accessSync(f('nope'))],
    ['readFileSync bad argument', () => nodeFs.readFileSync({} as never)],
    ['openSync bad flags', () => nodeFs.openSync(f('a.txt'), 'nonsense')],
    ['unlinkSync', () => nodeFs.unlinkSync(f('a.txt'))],
    ['rmSync recursive', () => nodeFs.rmSync(f('d'), { recursive: true })],
    ['rmSync missing', () => nodeFs.rmSync(f('d'))],
  ];
}

function runScript(dir: string): unknown[] {
  return script(dir).map(([label, fn]) => [label, outcome(fn)]);
}

describe('stackful/patch: fs', () => {
  let base: string;
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-io-'));
  });
  after(() => {
    unpatchAll();
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('gives, inside a fiber, exactly what Node\'s own functions give (values, errors and their codes)', async () => {
    const normalized = (dir: string, results: unknown[]): unknown => JSON.parse(JSON.stringify(results).split(dir).join('DIR'));
    const plainDir = fs.mkdtempSync(path.join(base, 'run-'));
    const expected = normalized(plainDir, runScript(plainDir));
    patchAll();
    try {
      const greenDir = fs.mkdtempSync(path.join(base, 'run-'));
      const { results, parked } = await runInFiber(() => {
        // Proof that the call parked the fiber: the hub finished its callback
        // and ran the tick queue before the call returned.
        let tickRan = false;
        process.nextTick(() => (tickRan = true));
        nodeFs.readFileSync(__filename);
        return { parked: tickRan, results: runScript(greenDir) };
      });
      assert.equal(parked, true, 'readFileSync did not yield inside the fiber');
      assert.deepEqual(normalized(greenDir, results), expected);
      // On the root fiber, patched functions are Node's own.
      const rootDir = fs.mkdtempSync(path.join(base, 'run-'));
      assert.deepEqual(normalized(rootDir, runScript(rootDir)), expected);
    } finally {
      unpatchAll();
    }
  });

  it('parks only the calling fiber: a blocked read lets another fiber write, and timers fire meanwhile (preload, functions captured early)', () => {
    const child = runChild('preload.js', [], { nodeArgs: ['--require', 'stackful/register'] });
    assert.equal(child.status, 0, describeChild(child));
    assert.deepEqual(report(child), { text: 'through the pipe', ticks: true });
  });

  it('a fiber killed while it waits stops waiting, and the descriptor that arrives late is closed', async () => {
    const fifo = path.join(base, 'kill-fifo');
    execFileSync('mkfifo', [fifo]);
    const fds = (): number => fs.readdirSync('/proc/self/fd').length;
    patchAll();
    try {
      const before = fds();
      const log: string[] = [];
      await runInFiber(() => {
        const blocked = spawn(() => {
          try {
            nodeFs.openSync(fifo, 'r'); // waits for a writer
            log.push('opened');
          } finally {
            log.push('finally');
          }
        });
        sleep(10);
        blocked.kill();
        log.push(`killed: dead ${blocked.dead}`);
        // Now let the pending open complete: a writer arrives.
        const writer = nodeFs.openSync(fifo, 'w');
        nodeFs.closeSync(writer);
        sleep(20); // the late descriptor is closed on the hub
      });
      assert.deepEqual(log, ['finally', 'killed: dead true']);
      assert.equal(fds(), before, 'a file descriptor leaked');
    } finally {
      unpatchAll();
    }
  });

  it('patches, reports and restores', () => {
    const original = nodeFs.readFileSync;
    patchAll();
    try {
      assert.notEqual(nodeFs.readFileSync, original);
      assert.equal(isPatched(nodeFs, 'readFileSync'), true);
      assert.equal(getOriginal(nodeFs, 'readFileSync'), original);
      assert.equal(nodeFs.readFileSync.name, 'readFileSync');
      assert.equal(typeof nodeFs.realpathSync.native, 'function', 'realpathSync.native was lost');
    } finally {
      unpatchAll();
    }
    assert.equal(nodeFs.readFileSync, original);
    assert.equal(isPatched(), false);
    assert.ok(FS_COVERED.includes('readFileSync') && FS_COVERED.includes('existsSync'));
    assert.ok(FS_NOT_COVERED.every((name) => !FS_COVERED.includes(name)));
  });
});

describe('stackful/patch: child_process', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cp = createRequire(__filename)('child_process') as typeof import('node:child_process');
  let base: string;
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-cp-'));
  });
  after(() => {
    unpatchAll();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const cases: Array<[string, () => unknown]> = [
    ['execSync', () => cp.execSync('echo hello').toString()],
    ['execSync input', () => cp.execSync('tr a-z A-Z', { input: 'shout' }).toString()],
    ['execFileSync args, encoding', () => cp.execFileSync('printf', ['%s-%s', 'a', 'b'], { encoding: 'utf8' })],
    ['execSync failure', () => cp.execSync('echo oops >&2; exit 7', { stdio: 'pipe' })],
    ['execFileSync missing', () => cp.execFileSync('/definitely/missing', ['x'])],
    ['spawnSync', () => cp.spawnSync('sh', ['-c', 'echo out; echo err >&2; exit 3'], { encoding: 'utf8' })],
    ['spawnSync timeout', () => cp.spawnSync('sleep', ['5'], { timeout: 50 })],
    ['spawnSync killSignal', () => cp.spawnSync('sleep', ['5'], { timeout: 50, killSignal: 'SIGKILL' })],
    // How many bytes arrive before the child is killed, and whether it has
    // already exited by then, depend on pipe timing, in Node's own function
    // too: compare what does not.
    ['spawnSync maxBuffer', () => {
      const r = cp.spawnSync('sh', ['-c', 'head -c 100000 /dev/zero'], { maxBuffer: 1000 });
      const e = r.error as NodeJS.ErrnoException | undefined;
      return { error: e && { name: e.name, code: e.code, message: e.message }, killedOrDone: r.signal === 'SIGTERM' || r.status === 0, overflowed: r.stdout.length > 1000 };
    }],
    ['spawnSync bad argument', () => cp.spawnSync(42 as never)],
    ['spawnSync env and cwd', () => cp.spawnSync('sh', ['-c', 'echo $GREEN; pwd'], { env: { GREEN: 'yes', PATH: process.env.PATH }, cwd: '/', encoding: 'utf8' })],
  ];

  function shape(value: unknown): unknown {
    const plain = (v: unknown): unknown => (Buffer.isBuffer(v) ? `<${v.length} bytes>` : v);
    if (value instanceof Error) {
      const e = value as NodeJS.ErrnoException & { status?: number; signal?: string; stdout?: unknown; stderr?: unknown; spawnargs?: string[] };
      return { error: { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, spawnargs: e.spawnargs, status: e.status, signal: e.signal, stdout: plain(e.stdout), stderr: plain(e.stderr) } };
    }
    if (value !== null && typeof value === 'object' && 'status' in value) {
      const r = value as { status: unknown; signal: unknown; stdout: unknown; stderr: unknown; error?: Error; output: unknown[] };
      return { status: r.status, signal: r.signal, stdout: plain(r.stdout), stderr: plain(r.stderr), error: r.error && shape(r.error), output: r.output?.map(plain) };
    }
    return plain(value);
  }

  const runAll = (): unknown[] => cases.map(([label, fn]) => {
    try {
      return [label, shape(fn())];
    } catch (err) {
      return [label, shape(err)];
    }
  });

  it('gives, inside a fiber, what Node gives: values, statuses, signals and errors', async () => {
    const expected = runAll();
    patchAll();
    try {
      assert.deepEqual(await runInFiber(runAll), expected);
      assert.deepEqual(runAll(), expected); // and on the root, Node's own
    } finally {
      unpatchAll();
    }
  });

  it('timeout and killSignal: the result the root gets, without waiting for a grandchild that holds the pipes', async () => {
    // Each child would run 30 s; the timeout is 300 ms. Node's spawnSync kills
    // the child and closes its pipes, so it does not wait for `sleep 30 &`.
    const timed: Array<[string, () => unknown]> = [
      ['execSync sleep', () => cp.execSync('sleep 30', { timeout: 300 })],
      ['execSync background + wait', () => cp.execSync('sleep 30 & wait', { timeout: 300 })],
      ['execSync SIGKILL', () => cp.execSync('sleep 30 & wait', { timeout: 300, killSignal: 'SIGKILL' })],
      ['execFileSync SIGINT', () => cp.execFileSync('sleep', ['30'], { timeout: 300, killSignal: 'SIGINT' })],
      ['spawnSync numeric killSignal, output so far', () => cp.spawnSync('sh', ['-c', 'echo early; sleep 30 & wait'], { timeout: 300, killSignal: 9, encoding: 'utf8' })],
      // The child survives killSignal and exits on its own terms: its status, not the signal, is reported.
      ['spawnSync child traps SIGTERM', () => cp.spawnSync('sh', ['-c', 'trap "exit 4" TERM; sleep 30 & wait'], { timeout: 300 })],
      ['execSync child traps SIGTERM, exits 0', () => cp.execSync('trap "exit 0" TERM; sleep 30 & wait', { timeout: 300 })],
      ['spawnSync child ignores SIGTERM, SIGKILL', () => cp.spawnSync('sh', ['-c', 'trap "" TERM; sleep 30 & wait; sleep 30'], { timeout: 300, killSignal: 'SIGKILL' })],
    ];
    const runTimed = (): Array<[string, unknown, number]> => timed.map(([label, fn]) => {
      const start = Date.now();
      let result: unknown;
      try {
        result = shape(fn());
      } catch (err) {
        result = shape(err);
      }
      return [label, result, Date.now() - start];
    });
    const onRoot = runTimed();
    for (const [label, result] of onRoot) assert.match(JSON.stringify(result), /ETIMEDOUT/, `${label} on the root`);
    patchAll();
    try {
      const inFiber = await runInFiber(runTimed);
      assert.deepEqual(inFiber.map(([label, result]) => [label, result]), onRoot.map(([label, result]) => [label, result]));
      // A generous bound, far below the children's natural 30 s: the call did not wait for them.
      for (const [label, , ms] of inFiber) assert.ok(ms < 15_000, `${label} took ${ms} ms in a fiber`);
    } finally {
      unpatchAll();
    }
  });

  it('runs 100 execSync calls at once: each child waits until all 100 have started', async function () {
    // Bounded, not timed: on a loaded machine starting 100 shells can take a
    // while. Each child says it started, then blocks reading its own FIFO; one
    // fiber releases them all once every child has started (or, after 150 s,
    // kills them and fails), so no child polls.
    this.timeout(200_000);
    const dir = fs.mkdtempSync(path.join(base, 'barrier-'));
    for (let i = 0; i < 100; i++) execFileSync('mkfifo', [path.join(dir, `go${i}`)]);
    patchAll();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    try {
      const outputs = await runInFiber(() => {
        const children = Array.from({ length: 100 }, (_, i) => spawn(() => cp.execSync(
          // Without the patch the first child would block the thread, and with it the
          // fiber that releases them: after 170 s it gives up and marks the run failed.
          `touch ${dir}/started${i}; if [ -e ${dir}.failed ]; then echo alone; ` +
            `elif timeout 170 sh -c 'read word < "$0"' ${dir}/go${i}; then echo ${i}; else touch ${dir}.failed; echo alone; fi`,
        ).toString().trim()));
        const started = () => fs.readdirSync(dir).filter((name) => name.startsWith('started')).length;
        for (let waited = 0; started() < 100 && waited < 150_000; waited += 50) sleep(50);
        if (started() < 100) {
          killAll(children); // kills their shells
          throw new Error(`only ${started()} of 100 execSync children started in 150 s: they did not run at once`);
        }
        for (let i = 0; i < 100; i++) wait(fs.promises.writeFile(path.join(dir, `go${i}`), 'go\n'));
        joinAll(children, { raiseError: true });
        return children.map((g) => g.value);
      });
      assert.deepEqual(outputs, Array.from({ length: 100 }, (_, i) => String(i)));
      assert.ok(ticks > 0, 'the event loop did not run while the children ran');
    } finally {
      clearInterval(ticker);
      unpatchAll();
    }
  });

  it('kills the child when its fiber is killed while waiting', async () => {
    const pidFile = path.join(base, 'pid');
    patchAll();
    try {
      const pid = await runInFiber(() => {
        const waiting = spawn(() => cp.execSync(`echo $$ > ${pidFile}; exec sleep 30`));
        while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8').trim() === '') sleep(5);
        waiting.kill();
        return Number(fs.readFileSync(pidFile, 'utf8'));
      });
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        try {
          process.kill(pid, 0);
        } catch {
          alive = false;
        }
      }
      assert.equal(alive, false, `child ${pid} outlived its fiber`);
    } finally {
      unpatchAll();
    }
  });
});

describe('stackful/patch: zlib and crypto', () => {
  const req = createRequire(__filename);
  const zlib = req('zlib') as typeof import('node:zlib');
  const crypto = req('crypto') as typeof import('node:crypto');
  after(() => unpatchAll());

  const data = Buffer.from('stackful '.repeat(1000));
  const cases: Array<[string, () => unknown]> = [
    ['gzipSync', () => zlib.gzipSync(data).toString('base64')],
    ['gunzipSync', () => zlib.gunzipSync(zlib.gzipSync(data)).toString()],
    ['deflateRawSync level', () => zlib.deflateRawSync(data, { level: 1 }).toString('base64')],
    ['brotliCompressSync', () => zlib.brotliDecompressSync(zlib.brotliCompressSync(data)).length],
    ['gunzipSync garbage', () => zlib.gunzipSync(Buffer.from('not gzip at all'))],
    ['pbkdf2Sync', () => crypto.pbkdf2Sync('secret', 'salt', 1000, 32, 'sha256').toString('hex')],
    ['pbkdf2Sync bad digest', () => crypto.pbkdf2Sync('secret', 'salt', 1, 32, 'no-such-digest')],
    ['scryptSync', () => crypto.scryptSync('secret', 'salt', 32, { N: 1024 }).toString('hex')],
    ['hkdfSync', () => Buffer.from(crypto.hkdfSync('sha256', 'key', 'salt', 'info', 16)).toString('hex')],
    ['randomFillSync', () => {
      const buf = crypto.randomFillSync(Buffer.alloc(64));
      return [buf.length, buf.some((b) => b !== 0)];
    }],
    ['generateKeyPairSync', () => {
      const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      return [publicKey.type, privateKey.type, privateKey.asymmetricKeyType];
    }],
  ];
  const runAll = (): unknown[] => cases.map(([label, fn]) => {
    try {
      return [label, { value: fn() }];
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return [label, { error: { name: e.name, code: e.code, errno: e.errno, message: e.message } }];
    }
  });

  it('gives, inside a fiber, what Node gives, and parks only the fiber', async () => {
    const expected = runAll();
    patchAll();
    try {
      const { results, parked } = await runInFiber(() => {
        let tickRan = false;
        process.nextTick(() => (tickRan = true));
        crypto.scryptSync('secret', 'salt', 64, { N: 16384 });
        return { parked: tickRan, results: runAll() };
      });
      assert.equal(parked, true, 'scryptSync did not yield inside the fiber');
      assert.deepEqual(results, expected);
      assert.deepEqual(runAll(), expected);
    } finally {
      unpatchAll();
    }
  });
});

describe('stackful/patch: stdout and stderr', () => {
  let base: string;
  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-stdio-'));
  });
  after(() => fs.rmSync(base, { recursive: true, force: true }));

  /** Runs test/crash/stdio.js with stdout and stderr to files, or to pipes. */
  function run(target: 'file' | 'pipe', args: string[]): { status: number | null; stdout: string; stderr: string } {
    const script = path.join(__dirname, 'crash', 'stdio.js');
    const nodeArgs = ['--require', 'stackful/register', script, ...args];
    const env = { ...process.env, UV_THREADPOOL_SIZE: '4' };
    if (target === 'pipe') {
      const child = spawnSync(process.execPath, nodeArgs, { env, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
      return { status: child.status, stdout: child.stdout, stderr: child.stderr };
    }
    const out = path.join(base, `${args[0]}.out`);
    const err = path.join(base, `${args[0]}.err`);
    const fds = [fs.openSync(out, 'w'), fs.openSync(err, 'w')];
    try {
      const child = spawnSync(process.execPath, nodeArgs, { env, stdio: ['ignore', fds[0]!, fds[1]!], timeout: 60_000 });
      return { status: child.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
    } finally {
      fds.forEach((fd) => fs.closeSync(fd));
    }
  }

  for (const target of ['file', 'pipe'] as const) {
    it(`a greenlet killed while it logs loses nothing, and the root's lines after it arrive in order (stdout a ${target})`, () => {
      const { status, stdout, stderr } = run(target, ['kill']);
      assert.equal(status, 0, stderr);
      assert.equal(stderr, 'root: stderr\n');
      const lines = stdout.trim().split('\n');
      const fiberLines = lines.filter((line) => line.startsWith('fiber '));
      assert.ok(fiberLines.length >= 195, `only ${fiberLines.length} lines from the fiber`);
      assert.deepEqual(fiberLines, fiberLines.map((_, i) => `fiber ${i}`));
      assert.deepEqual(lines.slice(fiberLines.length), [
        `root: killed after ${fiberLines.length} lines, dead true`,
        ...Array.from({ length: 10 }, (_, i) => `root ${i}`),
        'root: end',
      ]);
    });

    it(`console.log in a fiber does not wait for a busy thread pool (stdout a ${target})`, () => {
      const dir = fs.mkdtempSync(path.join(base, 'pool-'));
      const { status, stdout, stderr } = run(target, ['pool', dir]);
      assert.equal(status, 0, stderr);
      assert.deepEqual(stdout.trim().split('\n'), [
        'fiber: logged while the pool is busy',
        'root: logged before release: true',
        'root: readers got fifo-0,fifo-1,fifo-2,fifo-3',
      ]);
      assert.equal(stderr, 'fiber: to stderr while the pool is busy\n');
    });
  }
});

describe('stackful/patch: Atomics.wait', () => {
  after(() => unpatchAll());

  const shared = (): Int32Array => new Int32Array(new SharedArrayBuffer(16));
  const cases: Array<[string, () => unknown]> = [
    ['not-equal', () => Atomics.wait(shared(), 0, 1)],
    ['timeout 0', () => Atomics.wait(shared(), 0, 0, 0)],
    ['negative timeout', () => Atomics.wait(shared(), 0, 0, -5)],
    ['timeout 20', () => Atomics.wait(shared(), 1, 0, 20)],
    ['BigInt64Array, not-equal', () => Atomics.wait(new BigInt64Array(new SharedArrayBuffer(16)), 0, 1n)],
    ['BigInt64Array, timeout 20', () => Atomics.wait(new BigInt64Array(new SharedArrayBuffer(16)), 1, 0n, 20)],
    ['not shared', () => Atomics.wait(new Int32Array(4), 0, 0, 10)],
    ['index out of range', () => Atomics.wait(shared(), 9, 0, 10)],
    ['Float64Array', () => Atomics.wait(new Float64Array(new SharedArrayBuffer(16)) as never, 0, 0, 10)],
    ['no arguments', () => (Atomics.wait as () => unknown)()],
  ];
  const runAll = (): unknown[] => cases.map(([label, fn]) => {
    try {
      return [label, { value: fn() }];
    } catch (err) {
      return [label, { error: { name: (err as Error).name, message: (err as Error).message } }];
    }
  });

  it('gives, inside a fiber, what Atomics.wait gives, and parks only the fiber', async () => {
    const original = Atomics.wait;
    const expected = runAll();
    patchAll();
    try {
      assert.notEqual(Atomics.wait, original);
      assert.equal(getOriginal(Atomics, 'wait'), original);
      assert.equal(isPatched(Atomics, 'wait'), true);
      assert.equal(Atomics.wait.length, original.length);
      const { results, parked } = await runInFiber(() => {
        let tickRan = false;
        process.nextTick(() => (tickRan = true));
        Atomics.wait(shared(), 0, 0, 10);
        return { parked: tickRan, results: runAll() };
      });
      assert.equal(parked, true, 'Atomics.wait did not yield inside the fiber');
      assert.deepEqual(results, expected);
      assert.deepEqual(runAll(), expected); // and on the root, Node's own
    } finally {
      unpatchAll();
    }
    assert.equal(Atomics.wait, original);
  });

  it('returns ok when another fiber or a worker thread notifies, while other fibers run', async () => {
    patchAll();
    const cell = shared();
    const worker = new Worker(
      `const { workerData: cell } = require('node:worker_threads');
       Atomics.wait(cell, 1, 0);         // the thread really blocks until the main thread says go
       Atomics.store(cell, 2, 1);
       Atomics.notify(cell, 2);`,
      { eval: true, workerData: cell },
    );
    try {
      const log = await runInFiber(() => {
        const out: string[] = [];
        const byFiber = spawn(() => out.push(`fiber-notified: ${Atomics.wait(cell, 0, 0)}`));
        const byWorker = spawn(() => out.push(`worker-notified: ${Atomics.wait(cell, 2, 0, 30_000)}`));
        sleep(10); // both wait now
        out.push('others run meanwhile');
        Atomics.store(cell, 0, 1);
        out.push(`woken by notify: ${Atomics.notify(cell, 0)}`);
        joinAll([byFiber], { raiseError: true });
        Atomics.store(cell, 1, 1);
        Atomics.notify(cell, 1); // lets the worker go
        joinAll([byWorker], { raiseError: true });
        return out;
      });
      assert.deepEqual(log, ['others run meanwhile', 'woken by notify: 1', 'fiber-notified: ok', 'worker-notified: ok']);
    } finally {
      await worker.terminate();
      unpatchAll();
    }
  });

  it('a fiber killed while it waits passes on a notify that reaches its leftover wait', async () => {
    patchAll();
    try {
      const cell = shared();
      const outcome = await runInFiber(() => {
        const first = spawn(() => Atomics.wait(cell, 0, 0));
        sleep(5);
        const second = spawn(() => Atomics.wait(cell, 0, 0, 30_000));
        sleep(5);
        first.kill(); // its waitAsync stays first in V8's queue for this cell
        Atomics.notify(cell, 0, 1); // wakes that leftover, which passes it on to `second`
        second.join();
        return { first: first.dead, second: second.value };
      });
      assert.deepEqual(outcome, { first: true, second: 'ok' });
    } finally {
      unpatchAll();
    }
  });

  it('keeps the event loop alive while a fiber waits, as a blocked thread would', () => {
    const child = runChild('sync-libs.js', ['alive'], { nodeArgs: ['--require', 'stackful/register'], timeoutMs: 30_000 });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { result: 'timed-out' });
  });
});

describe('real blocking libraries inside fibers (IO hooks installed with --require stackful/register)', () => {
  // Each runs 5 fibers that make one request each to a local upstream that
  // answers only once all 5 are in flight at once (or after 10 s).
  for (const [library, how] of [['sync-request', 'spawnSync, through sync-rpc'], ['synckit', 'Atomics.wait on a worker thread']]) {
    it(`${library} (${how}): 5 requests overlap`, () => {
      const child = runChild('sync-libs.js', [library!], { nodeArgs: ['--require', 'stackful/register'], timeoutMs: 90_000 });
      assert.equal(child.status, 0, describeChild(child));
      assert.deepEqual(report(child), { most: 5, replies: [0, 1, 2, 3, 4].map((i) => `reply to /${i}`) });
    });
  }
});
