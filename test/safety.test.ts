// Everything here could take the process down if the core were wrong, so each
// case runs in a child process and checks its exit code and output.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describeChild, EMULATED, nodeCommand, report, ROOT, runChild, skipUnderEmulator } from './helpers';

describe('GC safety', () => {
  it('keeps objects held only by 2,000 fibers parked 32 frames deep intact through forced full and minor GCs', () => {
    const child = runChild('gc-safety.js', ['2000', '32'], { env: { STACKFUL_VERIFY_GC: '1' } });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { checked: 2000, depth: 32 });
  });
});

describe('handle blocks on fiber stacks', () => {
  const run = (env: Record<string, string>) => {
    const child = runChild('handle-blocks.js', [], { env: { STACKFUL_VERIFY_GC: '1', ...env } });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.live, 0);
    assert.ok(r.switches > 2000, JSON.stringify(r));
    return r;
  };

  it('keeps what V8 holds in handles for fibers parked inside JSON.parse revivers (1 to 1,500 levels deep) through GCs', () => {
    assert.equal(run({}).handleBlocks, 'stack');
  });

  it('works the same through the Locker switch, where V8 allocates every block', () => {
    assert.equal(run({ STACKFUL_SWITCH: 'locker' }).handleBlocks, 'v8');
  });

  it('a parked fiber with its block on its stack costs less memory than one with a block from V8', function () {
    skipUnderEmulator(this, "this compares RSS per parked fiber, and its RSS includes qemu's own translation cache, which grows as new guest code runs");
    // No absolute figure: what a parked fiber touches depends on the CPU and
    // the Node line (5.4 KB on an Intel Xeon, 13.4 KB reported on an AMD
    // EPYC); V8's own 8 KiB block adds at least a page to that on any of them.
    const onStack = run({}).rssPerFiber;
    const fromV8 = run({ STACKFUL_SWITCH: 'locker' }).rssPerFiber;
    assert.ok(fromV8 - onStack > 2000, `${onStack} bytes per parked fiber with blocks on stacks, ${fromV8} with V8's`);
  });
});

describe('interrupts from other threads', () => {
  const expected = { snapshots: 6, during: Array(6).fill({ bytes: true, switchedMeanwhile: true }), roundTrips: true, ranOut: false };

  for (const [path, env] of [['direct', {}], ['Locker', { STACKFUL_SWITCH: 'locker' }]] as const) {
    it(`reach a worker whose fibers switch nonstop (${path} switch): six heap snapshots taken while it switches`, function () {
      // Under qemu-user this child died with SIGSEGV 3 times in about 40 runs,
      // all while the machine was heavily loaded, on Node 20, 22 and 24; never
      // natively, never with --single-threaded, never in 35 runs in a row
      // after. The cause is not found (README, Support): until it is, the
      // arm64 step does not run it rather than fail CI at random.
      skipUnderEmulator(this, 'intermittent SIGSEGV under qemu-user with heap snapshots from another thread, cause not found (README, Support)');
      const child = runChild('interrupts.js', ['6'], { nodeArgs: [], env });
      assert.equal(child.status, 0, describeChild(child));
      assert.equal(child.stderr, '');
      assert.deepEqual(report(child), expected);
    });
  }
});

describe('with V8\'s debugger active', () => {
  it('pauses at `debugger` in the fiber that runs it, and fibers keep their values through GCs', () => {
    const child = runChild('debugger.js');
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.path, 'direct');
    assert.deepEqual(r.paused, Array.from({ length: 10 }, () => ['fiberA', 'fiberB']).flat());
    assert.deepEqual(r.results, [64, 64]);
    assert.equal(r.live, 0);
  });
});

describe('WebAssembly with fibers parked', () => {
  it('fetch() (a wasm HTTP parser) keeps working: V8\'s wasm code GC, which aborts with archived threads, is off', () => {
    const child = runChild('wasm-code-gc.js', ['400', '10'], { nodeArgs: [] });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { before: 0, ok: 400, results: Array(10).fill(3), live: 0 });
  });

  it('keeps working when wasm ran (and tiered up) before the first fiber was made: the code GC goes off with the first fiber, before any switch', () => {
    const child = runChild('wasm-code-gc.js', ['400', '10', '20'], { nodeArgs: [] });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { before: 20, ok: 400, results: Array(10).fill(3), live: 0 });
  });

  it('a code GC that started before the first fiber leaves no task behind that aborts once fibers are suspended', () => {
    // --stress-wasm-code-gc: the code that tier-up replaces starts a code GC
    // at once, in the same turn as the fibers are made and suspended.
    const child = runChild('wasm-stale-task.js', ['3'], { nodeArgs: ['--allow-natives-syntax', '--stress-wasm-code-gc'] });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { tieredUp: true, calls: true, results: [1, 2, 3], live: 0 });
  });
});

describe('the Locker switch (STACKFUL_SWITCH=locker, the fallback)', () => {
  const locker = { STACKFUL_SWITCH: 'locker', STACKFUL_VERIFY_GC: '1' };

  it('keeps objects held only by parked fibers intact through forced GCs', () => {
    const child = runChild('gc-safety.js', ['500', '32'], { env: locker });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { checked: 500, depth: 32 });
  });

  it('survives the torture test, and says which switch ran', () => {
    const child = runChild('torture.js', ['3', '300'], { env: locker });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.finished, 300);
    assert.deepEqual(r.switching, { path: 'locker', reason: 'STACKFUL_SWITCH=locker', stackLimit: 'api', handleScopes: 'api', threadLocalTop: 'api', handleBlocks: 'v8' });
  });

  it('runs fibers in workers, and terminate() ends a worker with fibers parked or spinning', () => {
    const child = runChild('workers.js', [], { env: locker });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.spinExit, 1);
    assert.equal(r.parkedExit, 1);
  });
});

describe('AsyncLocalStorage and scavenges', () => {
  // Node 24+: V8 visits the isolate's async context once per suspended fiber;
  // without stackful's guard the second copy corrupted the heap (3 runs in 3).
  for (const env of [{ STACKFUL_YOUNG_GC: 'visit-all' }, {}]) {
    it(`a young AsyncLocalStorage frame survives scavenges with 50 fibers parked${env.STACKFUL_YOUNG_GC ? ' (visit-all)' : ''}`, () => {
      const child = runChild('async-context-gc.js', [], { env });
      assert.equal(child.status, 0, describeChild(child));
      assert.equal(child.stderr, '');
      assert.deepEqual(report(child), { checked: 2000, live: 0 });
    });
  }
});

describe('scavenges and parked fibers', () => {
  // STACKFUL_VERIFY_GC=1: every fiber left out of a scavenge is checked to be
  // one parked through three scavenges, or the child aborts.
  it('leave out fibers parked through three scavenges, and what those fibers hold stays intact', () => {
    const child = runChild('young-gc.js', ['3000', '20'], { env: { STACKFUL_VERIFY_GC: '1' } });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.checked, 3000);
    assert.equal(r.path, 'skip-clean');
    // 20 scavenges with everything parked: all but the first three skip.
    assert.ok(r.skippingBefore >= 15 && r.skipping > r.skippingBefore, JSON.stringify(r));
  });

  it('visit every parked fiber with STACKFUL_YOUNG_GC=visit-all, with the same results', () => {
    const child = runChild('young-gc.js', ['1000', '20'], { env: { STACKFUL_YOUNG_GC: 'visit-all' } });
    assert.equal(child.status, 0, describeChild(child));
    const r = report(child);
    assert.equal(r.checked, 1000);
    assert.equal(r.path, 'visit-all');
    assert.equal(r.skipping, 0);
  });
});

describe('torture', () => {
  it('1,000 fibers switching in a seeded random order through forced GCs keep every value (8 s)', () => {
    const child = runChild('torture.js', ['8', '1000'], { timeoutMs: 60_000, env: { STACKFUL_VERIFY_GC: '1' } });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.equal(r.finished, 1000);
    assert.equal(r.live, 0);
    assert.ok(r.switches > 10_000 && r.checks >= r.switches && r.minor > 0 && r.major > 0, JSON.stringify(r));
    assert.equal(r.youngGc.path, 'skip-clean');
    assert.ok(r.youngGc.skipping > 0, JSON.stringify(r.youngGc));
    assert.deepEqual(r.switching, { path: 'direct', stackLimit: 'by-hand', handleScopes: 'by-hand', threadLocalTop: 'by-hand', handleBlocks: 'stack' });
  });
});

describe('stack overflow', () => {
  it('throws RangeError for deep recursion and deep JSON.stringify inside fibers, and the process survives', () => {
    const child = runChild('overflow.js');
    assert.equal(child.status, 0, describeChild(child));
    const r = report(child);
    assert.match(r.json, /^same as main stack( \(RangeError\))?$/);
    assert.deepEqual(r, {
      recursion: 'RangeError',
      deadAfter: true,
      reuse: 'ERR_FIBER_DEAD',
      json: r.json,
      caughtInside: 'caught RangeError',
      nested: 'RangeError',
      after: 42,
      mainStack: 'RangeError',
    });
  });
});

describe('scale', () => {
  it('holds 10,000 suspended fibers, and runs 1,000,000 create/run/finish cycles with flat RSS', () => {
    const child = runChild('scale.js', ['10000', '1000000'], { timeoutMs: 120_000 });
    assert.equal(child.status, 0, describeChild(child));
    const r = report(child);
    assert.equal(r.suspendedPeak, 10000);
    assert.equal(r.resumed, 10000);
    assert.equal(r.sum, 2000000);
    assert.equal(r.live, 0);
    assert.equal(r.finished, 1010000);
    // Measured, not hoped: a leak of even 16 bytes per fiber would add 14 MB here.
    assert.ok(r.rssGrowth < 8 * 1024 * 1024, `RSS grew by ${r.rssGrowth} bytes: ${r.rssSamples}`);
  });
});

describe('100,000 fibers', () => {
  it('suspends 100,000 fibers with the default vm.max_map_count where guard pages are guard regions', function () {
    skipUnderEmulator(this, 'qemu-user ignores guard-region advice, so every guard page is a mapping of its own, and at vm.max_map_count qemu itself fails to allocate and hangs instead of failing the mmap() stackful would report');
    const child = runChild('many.js', ['100000'], { timeoutMs: 120_000 });
    assert.equal(child.status, 0, describeChild(child));
    const r = report(child);
    if (r.guardPages === 'region') {
      // One mapping per slab of stacks: the kernel's map limit is not the limit.
      assert.deepEqual(r, { reached: 100000, code: null, deep: 'RangeError', resumed: 100000, guardPages: 'region', live: 0 });
    } else {
      // Older kernels: a mapping per guard page; the limit is reported, not a crash.
      assert.equal(r.guardPages, 'mprotect');
      assert.equal(r.code, 'ERR_FIBER_STACK');
      assert.ok(r.reached > 20000, `only ${r.reached} fibers`);
      assert.equal(r.resumed, r.reached);
    }
  });
});

describe('deoptimization', () => {
  it('code optimized and active in 50 parked fibers is deoptimized under them, and they resume correctly', () => {
    const child = runChild('deopt.js', [], { nodeArgs: ['--allow-natives-syntax', '--no-concurrent-recompilation', '--expose-gc'] });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), { ok: true, dead: true, live: 0, optimized: true });
  });
});

describe('optimized code of the hub', () => {
  it('survives a full GC with no fiber alive: fibers that park in it again are not deoptimized one by one', function () {
    this.timeout(240_000);
    const child = runChild('kept-shapes.js', [], { nodeArgs: ['--expose-gc', '--trace-deopt', '--no-concurrent-recompilation'], timeoutMs: 220_000 });
    assert.equal(child.status, 0, describeChild(child));
    assert.deepEqual(report(child), { turns: 300_000 });
    // V8 prints each deoptimization on stdout; count those of frames that
    // were parked in code thrown away meanwhile, in the rounds after a gc().
    const at = child.stdout.indexOf('\nmeasured\n');
    assert.ok(at > 0, describeChild(child));
    const measured = child.stdout.slice(at);
    const lazy = measured.split('deopt-lazy').length - 1;
    // Before, 999 to 3,550 here: the hub's code lost the shapes of its objects
    // in each gc(), and every one of the 1,000 parked greenlets left it by a
    // deoptimization of its own.
    assert.ok(lazy < 100, `${lazy} lazy deoptimizations after the full GCs`);
  });
});

describe('stack pages', () => {
  before(function () {
    skipUnderEmulator(this, "these compare RSS before and after stacks are given back, and under qemu RSS includes qemu's own translation cache, which grows as new guest code runs");
  });

  const trim = (mode?: string) => {
    const child = runChild('stack-trim.js', mode === undefined ? [] : [mode]);
    assert.equal(child.status, 0, describeChild(child));
    return report(child);
  };

  it('are given back when deep fibers finish (shallow ones alone stay warm for reuse)', () => {
    const r = trim();
    assert.equal(r.dead, true);
    // 200 stacks grown by ~650 KiB each: all but the few kept warm are trimmed.
    assert.ok(r.grownKiB > 80_000, JSON.stringify(r));
    assert.ok(r.keptKiB < r.grownKiB / 2, JSON.stringify(r));
  });

  it('of a fiber that recursed deep without suspending are given back once newer released stacks push it out of the pool\'s unasked few', () => {
    const r = trim('window');
    assert.equal(r.dead, true);
    // One stack grown by about 400 KiB; before, it stayed in the pool whole.
    assert.ok(r.grownKiB > 200, JSON.stringify(r));
    assert.ok(r.keptKiB < r.grownKiB / 2, JSON.stringify(r));
  });

  it('touched by a GC that ran on a fiber\'s stack are given back once it parks', () => {
    const r = trim('gc');
    // Before, each fiber that ran a scavenge kept one page more (about 4 KB).
    assert.ok(r.scavengedPerFiber < r.plainPerFiber + 2000, JSON.stringify(r));
  });

  it('are given back when fibers that recursed to RangeError are killed, also the few the pool keeps warm', () => {
    const r = trim('few');
    assert.equal(r.dead, true);
    // 20 stacks of about 900 KiB each (V8's limit); each keeps only its top 64 KiB
    // (before, all of it: the pool keeps 32 released stacks warm).
    assert.ok(r.grownKiB > 10_000, JSON.stringify(r));
    assert.ok(r.keptKiB < r.grownKiB / 2, JSON.stringify(r));
  });
});

describe('worker_threads', () => {
  // Issue #15: with stackful loaded only in a worker, Node unmapped the addon
  // when the worker ended, then V8 called into it: SIGSEGV, 10 runs in 10.
  // Under qemu-user a worker takes seconds to start: 20 of them (issue #15
  // crashed at the first worker's exit).
  const cycles = EMULATED ? 20 : 100;
  for (const [parked, how] of [[0, 'exit'], [1, 'terminate'], [1000, 'terminate']] as const) {
    it(`runs ${cycles} workers in turn that each load stackful alone (the main thread never does), ${parked} fibers suspended, ${how}`, function () {
      this.timeout(300_000); // 5 to 7 s here; much more on a loaded machine
      const child = runChild('worker-only.js', [String(cycles), String(parked), how], { timeoutMs: 280_000 });
      assert.equal(child.status, 0, describeChild(child));
      assert.equal(child.stderr, '');
      const r = report(child);
      assert.equal(r.cycles, cycles);
      // Every worker proved the direct switch (one in thirty fell back to the
      // Locker switch on Node 24: the Debug object's proof was ambiguous).
      assert.deepEqual(r.live, [`${parked} direct`]);
    });
  }

  it('frees what suspended fibers hold when their worker ends: RSS stays flat over 100 workers that each leave 5,000 parked', function () {
    skipUnderEmulator(this, "this watches RSS over 100 workers, and its RSS includes qemu's own translation cache, which grows as new guest code runs");
    this.timeout(400_000); // 17 s here; much more on a loaded machine
    const child = runChild('worker-only.js', ['100', '5000', 'exit'], { timeoutMs: 380_000 });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const { rss } = report<{ rss: number[] }>(child);
    assert.equal(rss.length, 10);
    // Before the fix each suspended fiber left about 0.8 KB behind: RSS grew
    // steadily, by some 40 MB per sample here. The lowest of the second half
    // of the samples is compared, so that one sample taken while a worker's
    // memory is still being given back (seen under load) does not count.
    const growth = Math.min(...rss.slice(5)) - rss[0]!;
    assert.ok(growth < 60, `RSS grew by ${growth} MB over the second half of the workers: ${rss.join(', ')} MB`);
  });

  it('runs fibers on the main thread and two workers at once, and terminates workers with fibers suspended or spinning', () => {
    const child = runChild('workers.js', [], { timeoutMs: 60_000 });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(report(child), {
      main: 150000,
      workers: [100000, 100000],
      spinReady: 'spinning with 100 suspended',
      parkedReady: 500,
      spinExit: 1,
      parkedExit: 1,
      naturalExit: 3,
      mainStats: 0,
    });
  });
});

describe('process exit with suspended fibers', () => {
  it('exits with code 0 and nothing on stderr when 1,000 fibers are left suspended', () => {
    const child = runChild('exit-suspended.js', ['1000', 'natural']);
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.signal, null);
    assert.equal(child.stderr, '');
  });

  it('keeps the code given to process.exit() on the main stack', () => {
    const child = runChild('exit-suspended.js', ['1000', 'exit-code', '7']);
    assert.equal(child.status, 7, describeChild(child));
    assert.equal(child.stderr, '');
  });

  it('keeps the code given to process.exit() inside a fiber', () => {
    const child = runChild('exit-suspended.js', ['1000', 'from-fiber', '5']);
    assert.equal(child.status, 5, describeChild(child));
    assert.equal(child.stderr, '');
  });
});

describe('JS and native fiber state agree whatever user code throws as a fiber finishes', () => {
  // Issue #15, item 7: each of these left the dead fiber 'suspended' in
  // listFibers(), or delivered the wrong value or error to the wrong fiber.
  const run = (name: string) => {
    const child = runChild('desync.js', [name]);
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    return report(child);
  };

  it('a FiberExit whose `value` getter throws: the getter\'s error reaches the parent, the fiber is dead', () => {
    assert.deepEqual(run('exit-getter'), { got: { threw: 'Error', message: 'value getter' }, state: 'dead', jsLive: 0, nativeLive: 0 });
  });

  it('a thrown Proxy whose getPrototypeOf trap throws reaches the parent as itself', () => {
    assert.deepEqual(run('proxy'), { sameObject: true, state: 'dead', jsLive: 0, nativeLive: 0 });
  });

  it('refuses Object.create(Fiber.prototype) as a parent with ERR_INVALID_ARG_TYPE', () => {
    assert.deepEqual(run('fake-parent'), { option: 'ERR_INVALID_ARG_TYPE', setter: 'ERR_INVALID_ARG_TYPE', back: 'done', state: 'dead', jsLive: 0, nativeLive: 0 });
  });

  it('is not fooled by a Symbol.hasInstance on Fiber or FiberExit', () => {
    assert.deepEqual(run('has-instance'), { got: { threw: 'Error', message: 'a real failure' }, fake: 'ERR_INVALID_ARG_TYPE', state: 'dead', jsLive: 0, nativeLive: 0 });
  });

  it('a fiber whose unstarted parent gets no stack: ERR_FIBER_STACK with the result reaches the grandparent, nobody else wakes', () => {
    // Address space limited to what this Node takes plus 6 GiB: fibers with
    // 256 MiB stacks soon leave no room for a 1 GiB one, whatever the machine.
    const probe = spawnSync(...nodeCommand(['-e', `require('stackful'); new (require('stackful').Fiber)(() => 1).run(); console.log(/VmPeak:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])`]), { cwd: ROOT, encoding: 'utf8' });
    assert.equal(probe.status, 0, probe.stderr);
    const limitKb = Number(probe.stdout.trim()) + 6 * 1024 * 1024;
    const [command, args] = nodeCommand([path.join(ROOT, 'test', 'crash', 'desync.js'), 'no-stack']);
    const child = spawnSync('bash', ['-c', `ulimit -v ${limitKb} && exec "$0" "$@"`, command, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, LIMIT_KB: String(limitKb) } });
    assert.equal(child.status, 0, `${child.stdout}\n${child.stderr}`);
    assert.equal(child.stderr, '');
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!);
    assert.equal(r.got.threw, 'ERR_FIBER_STACK');
    assert.match(r.got.message, /fiber #\d+ \("c"\) finished, but its parent fiber #\d+ \("p"\) could not start to receive its result/);
    assert.equal(r.got.value, 'c result');
    assert.deepEqual({ kids: r.kids, kidsOk: r.kidsOk, later: r.later, jsLive: r.jsLive, nativeLive: r.nativeLive }, { kids: true, kidsOk: true, later: { returned: 'p started with later' }, jsLive: 0, nativeLive: 0 });
    assert.deepEqual({ p: r.middle.p, c: r.middle.c }, { p: 'new', c: 'dead' });
    assert.equal(r.middle.jsLive, r.middle.nativeLive);
  });
});
