import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Event, Fiber, FiberExit, Greenlet, iwait, joinAll, killAll, Queue, runInFiber, setSpawnSites, sleep, spawn, spawnLater, Timeout, TimeoutError, wait, withTimeout } from 'stackful';
import { codeOf, describeChild, EMULATED, runChild } from './helpers';

describe('spawn() and sleep(): the seed examples', () => {
  it('three fibers printing 0..4 with sleep(0) interleave in turn', async () => {
    const out: string[] = [];
    const count = (name: string): void => {
      for (let i = 0; i < 5; i++) {
        out.push(`${name}${i}`);
        sleep(0);
      }
    };
    await runInFiber(() => joinAll([spawn(count, 'a'), spawn(count, 'b'), spawn(count, 'c')]));
    assert.deepEqual(out, ['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3', 'a4', 'b4', 'c4']);
  });

  it('without sleep(0) they run one after another', async () => {
    const out: string[] = [];
    const count = (name: string): void => {
      for (let i = 0; i < 5; i++) out.push(`${name}${i}`);
    };
    await runInFiber(() => joinAll([spawn(count, 'a'), spawn(count, 'b'), spawn(count, 'c')]));
    assert.deepEqual(out, ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0', 'c1', 'c2', 'c3', 'c4']);
  });

  it('a greenlet knows where it was spawned when setSpawnSites(true) turned that on (off by default)', async () => {
    const unrecorded = spawn(() => 2);
    setSpawnSites(true);
    let recorded: Greenlet<number>;
    try {
      recorded = spawn(() => 1);
    } finally {
      setSpawnSites(false);
    }
    assert.match(recorded.spawnedAt ?? '', /^at .*hub\.test\.ts:\d+/);
    assert.equal(unrecorded.spawnedAt, undefined);
    assert.deepEqual([await recorded, await unrecorded], [1, 2]);
  });

  it('new Greenlet(fn, args, { spawnSite: false }) records no spawn site, the setting being on', async () => {
    setSpawnSites(true);
    let g: Greenlet<number>;
    try {
      g = new Greenlet(() => 3, [], { name: 'GET /', spawnSite: false });
    } finally {
      setSpawnSites(false);
    }
    g.start();
    assert.equal(g.spawnedAt, undefined);
    assert.equal(await g, 3);
  });

  it('spawn() starts on the next loop turn, not at once', async () => {
    const log: string[] = [];
    const g = spawn(() => log.push('ran'));
    log.push('spawned');
    assert.equal(g.started, true);
    await g;
    assert.deepEqual(log, ['spawned', 'ran']);
  });

  it('fibers waking each other without pause still let timers run (the loop gets a turn at least every few ms)', async () => {
    // Under qemu-user a handoff is tens of times slower: a longer window gives
    // the same counts.
    const WINDOW_MS = EMULATED ? 3000 : 300;
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      const handoffs = await runInFiber(() => {
        const q = new Queue<number>(1);
        const until = Date.now() + WINDOW_MS;
        const consumer = spawn(() => {
          let n = 0;
          while (q.get() >= 0) n++;
          return n;
        });
        while (Date.now() < until) q.put(1);
        q.put(-1);
        return consumer.get();
      });
      assert.ok(handoffs > 1000, `only ${handoffs} handoffs`);
      // A 1 ms interval fires about 300 times when the loop turns freely; a
      // hub that kept the loop from turning would let it fire once or never.
      assert.ok(ticks >= 20, `the interval fired ${ticks} times in ${WINDOW_MS} ms`);
    } finally {
      clearInterval(ticker);
    }
  });

  it('spawnLater() starts after the delay', async () => {
    const started = Date.now();
    const at = await spawnLater(20, () => Date.now());
    assert.ok(at - started >= 19);
  });
});

describe('blocking on the root fiber', () => {
  it('throws ERR_BLOCKING_ON_ROOT with the way out', () => {
    assert.equal(codeOf(() => sleep(0)), 'ERR_BLOCKING_ON_ROOT');
    assert.equal(codeOf(() => wait(Promise.resolve(1))), 'ERR_BLOCKING_ON_ROOT');
    assert.throws(() => sleep(10), /run this code in a fiber \(spawn\(\) or runInFiber\(\)\)/);
    const g = spawn(() => 1);
    assert.equal(codeOf(() => g.join()), 'ERR_BLOCKING_ON_ROOT');
    return g;
  });
});

describe('wait() and runInFiber()', () => {
  it('wait() returns what a promise resolves to, or throws its reason', async () => {
    const result = await runInFiber(() => {
      const a = wait(new Promise<number>((resolve) => setTimeout(() => resolve(40), 5)));
      let reason = '';
      try {
        wait(Promise.reject(new Error('no')));
      } catch (err) {
        reason = (err as Error).message;
      }
      return [a + wait(Promise.resolve(2)), reason, wait(7 as never)];
    });
    assert.deepEqual(result, [42, 'no', 7]);
  });

  it('runInFiber() rejects with the fiber\'s exception', async () => {
    await assert.rejects(runInFiber(() => {
      throw new TypeError('inside');
    }), { name: 'TypeError', message: 'inside' });
  });

  it('other fibers run while one waits for a promise', async () => {
    const log: string[] = [];
    let release!: (v: string) => void;
    const gate = new Promise<string>((resolve) => (release = resolve));
    await runInFiber(() => {
      const waiting = spawn(() => log.push(`waiter got ${wait(gate)}`));
      const other = spawn(() => {
        log.push('other ran');
        release('go');
      });
      joinAll([waiting, other]);
    });
    assert.deepEqual(log, ['other ran', 'waiter got go']);
  });
});

describe('Timeout', () => {
  it('raises TimeoutError in the fiber that started it, wherever it is parked', async () => {
    const outcome = await runInFiber(() => {
      try {
        withTimeout(10, () => sleep(10_000));
        return 'no timeout';
      } catch (err) {
        return [(err as TimeoutError).code, err instanceof TimeoutError];
      }
    });
    assert.deepEqual(outcome, ['ERR_FIBER_TIMEOUT', true]);
  });

  it('can be cancelled, and returns a fallback when given one', async () => {
    const outcome = await runInFiber(() => {
      const t = new Timeout(5).start();
      t.cancel();
      sleep(15);
      return [t.expired, Timeout.run(5, () => sleep(1000), 'fallback'), Timeout.run(50, () => 'in time')];
    });
    assert.deepEqual(outcome, [false, 'fallback', 'in time']);
  });

  it('works with `using`-style disposal', async () => {
    const outcome = await runInFiber(() => {
      const t = new Timeout(5).start();
      try {
        sleep(1);
      } finally {
        t[Symbol.dispose]();
      }
      sleep(10);
      return t.expired;
    });
    assert.equal(outcome, false);
  });
});

describe('waiting with a time limit (parkOn, under every blocking call)', () => {
  // The thread is held past the limit, so the timer cannot fire before the wake.
  const holdThread = (ms: number): void => {
    const until = Date.now() + ms;
    while (Date.now() < until);
  };

  it('a wake that comes after the limit but before the timer fired counts: the call succeeds and nothing is lost', async () => {
    // The premise: both fibers park, this one resumes before their limit runs
    // out, then holds the thread past it so that their timers are due but
    // cannot fire before the wake. On a loaded machine (or under qemu) the
    // resume can come later than the limit: then the run proves nothing, and
    // it is tried again with a limit twice as long (bounded).
    const attempt = (limit: number) => runInFiber(() => {
      const q = new Queue<string>();
      let parkedAt = 0;
      const getter = spawn(() => {
        parkedAt = Date.now();
        return q.get({ timeout: limit });
      });
      // An Event, set in the same turn as the put: a join of the getter would
      // be woken only once the getter runs, after the due timers may fire.
      const done = new Event();
      const joiner = spawn(() => done.wait(limit));
      sleep(0); // both park, each under the limit
      if (Date.now() - parkedAt >= limit / 2) {
        q.put('too late to prove anything');
        done.set();
        joiner.join();
        return undefined;
      }
      holdThread(limit + 20 - (Date.now() - parkedAt));
      q.put('late but in time');
      done.set();
      return { got: getter.get(), joined: joiner.get(), left: q.qsize() };
    });
    let result: unknown;
    for (let limit = 50; result === undefined && limit <= 3_200; limit *= 2) result = await attempt(limit);
    assert.deepEqual(result, { got: 'late but in time', joined: true, left: 0 });
  });

  it('a wait whose limit ran out takes nothing: the next item goes to the next getter, and kill() still reaches a timed wait', async () => {
    const result = await runInFiber(() => {
      const q = new Queue<number>();
      const first = spawn(() => codeOf(() => q.get({ timeout: 1 })));
      const second = spawn(() => q.get({ timeout: 10_000 }));
      const killed = spawn(() => q.get({ timeout: 10_000 }));
      sleep(0);
      const firstCode = first.get();
      killed.kill();
      q.put(1);
      return { firstCode, second: second.get(), killedDead: killed.dead, left: q.qsize() };
    });
    assert.deepEqual(result, { firstCode: 'ERR_QUEUE_EMPTY', second: 1, killedDead: true, left: 0 });
  });
});

describe('Greenlet', () => {
  it('join(timeout) says whether it finished; get() returns the value', async () => {
    const result = await runInFiber(() => {
      const slow = spawn(() => {
        sleep(30);
        return 'slow';
      });
      const early = slow.join(5);
      return [early, slow.join(), slow.get(), slow.successful(), slow.value];
    });
    assert.deepEqual(result, [false, true, 'slow', true, 'slow']);
  });

  it('get() throws the greenlet\'s exception, and a TimeoutError past its timeout', async () => {
    const result = await runInFiber(() => {
      const failing = spawn(() => {
        throw new RangeError('bad');
      });
      const slow = spawn(() => sleep(1000));
      const codes: unknown[] = [];
      try {
        failing.get();
      } catch (err) {
        codes.push((err as Error).message);
      }
      try {
        slow.get({ timeout: 5 });
      } catch (err) {
        codes.push((err as TimeoutError).code);
      }
      slow.kill();
      codes.push(failing.successful(), (failing.exception as Error).name);
      return codes;
    });
    assert.deepEqual(result, ['bad', 'ERR_FIBER_TIMEOUT', false, 'RangeError']);
  });

  it('kill() runs the finally blocks of a sleeping greenlet and waits for it', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const g = spawn(() => {
        try {
          sleep(10_000);
        } finally {
          log.push('finally');
        }
      });
      sleep(0); // the greenlet starts (a timer could fire before it does)
      g.kill();
      log.push(`dead ${g.dead} successful ${g.successful()}`);
    });
    assert.deepEqual(log, ['finally', 'dead true successful true']);
  });

  it('Fiber#kill() of a parked greenlet from a fiber returns to the killer, even with other fibers ready', async () => {
    // A finishing greenlet switches straight into the next ready fiber; one
    // being killed with Fiber#kill() must go back to its killer instead.
    const log: string[] = [];
    await runInFiber(() => {
      const victim = spawn(() => {
        try {
          sleep(10_000);
        } finally {
          log.push('victim finally');
        }
      });
      const other = spawn(() => {
        for (let i = 0; i < 3; i++) {
          log.push(`other ${i}`);
          sleep(0);
        }
      });
      sleep(0); // both have started: the victim sleeps, the other is in the ready queue
      victim.fiber.kill();
      log.push(`killer back, victim dead: ${victim.fiber.dead}`);
      other.join();
    });
    assert.deepEqual(log, ['other 0', 'victim finally', 'killer back, victim dead: true', 'other 1', 'other 2']);
  });

  it('a greenlet that finishes wakes its joiner before fibers that became ready after it', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const g = spawn(() => log.push('g runs'));
      g.join(); // g finishes straight into this fiber, its joiner
      log.push('joined');
      const later = spawn(() => log.push('later runs'));
      later.join();
    });
    assert.deepEqual(log, ['g runs', 'joined', 'later runs']);
  });

  it('kill() of a greenlet that has not started means it never runs', async () => {
    let ran = false;
    const g = spawn(() => {
      ran = true;
    });
    g.kill();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ran, false);
    assert.equal(g.dead, true);
  });

  it('kill() of a greenlet that never started, with an error, makes it fail with that error', async () => {
    const g = spawn(() => 1);
    g.kill(new Error('before start'));
    assert.equal(g.successful(), false);
    assert.equal((g.exception as Error).message, 'before start');
    await assert.rejects(Promise.resolve(g), /before start/);
  });

  it('kill() with an error makes it fail with that error', async () => {
    const result = await runInFiber(() => {
      const g = spawn(() => sleep(1000));
      sleep(1);
      g.kill(new Error('stop now'));
      return [g.successful(), (g.exception as Error).message];
    });
    assert.deepEqual(result, [false, 'stop now']);
  });

  it('link() callbacks run on the hub when it finishes; unlink() removes one', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const g = spawn(() => 5);
      const removed = (): void => {
        log.push('removed ran');
      };
      g.link((x) => log.push(`linked ${x.value} on root ${Fiber.current === Fiber.root}`));
      g.link(removed);
      g.unlink(removed);
      g.join();
      sleep(0);
    });
    assert.deepEqual(log, ['linked 5 on root true']);
  });

  it('is a thenable: await works from async code', async () => {
    assert.equal(await spawn((a: number, b: number) => a * b, 6, 7), 42);
    await assert.rejects(Promise.resolve(spawn(() => {
      throw new Error('awaited');
    })), /awaited/);
  });

  it('FiberExit thrown inside counts as a clean finish with its value', async () => {
    const g = spawn(() => {
      throw new FiberExit('early');
    });
    assert.equal(await g, 'early');
    assert.equal(g.successful(), true);
  });

  it('keeps the AsyncLocalStorage store it was spawned with', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen = await als.run('spawner', () => runInFiber(() => {
      const g = als.run('inner', () => spawn(() => {
        const first = als.getStore();
        sleep(1);
        return [first, als.getStore()];
      }));
      return g.get();
    }));
    assert.deepEqual(seen, ['inner', 'inner']);
  });
});

describe('joinAll(), killAll(), iwait()', () => {
  it('iwait() yields greenlets in the order they finish', async () => {
    const order = await runInFiber(() => {
      const gs = [30, 10, 20].map((ms) => spawn(() => {
        sleep(ms);
        return ms;
      }));
      return [...iwait(gs)].map((g) => g.value);
    });
    assert.deepEqual(order, [10, 20, 30]);
  });

  it('joinAll() with raiseError throws the first failure; with a timeout returns those finished', async () => {
    const result = await runInFiber(() => {
      const fast = spawn(() => 1);
      const slow = spawn(() => sleep(1000));
      const finished = joinAll([fast, slow], { timeout: 20 });
      let raised = '';
      try {
        joinAll([spawn(() => {
          throw new Error('first failure');
        }), spawn(() => sleep(1000))], { raiseError: true });
      } catch (err) {
        raised = (err as Error).message;
      }
      killAll([slow]);
      return [finished.length, finished[0] === fast, raised, slow.dead];
    });
    assert.deepEqual(result, [1, true, 'first failure', true]);
  });
});

describe('hub reports', () => {
  it('reports fibers that wait on something that can never happen, with the line where each waits, and exits with code 1', () => {
    const child = runChild('hub-report.js', ['blocked']);
    assert.equal(child.status, 1, describeChild(child));
    assert.match(child.stderr, /1 fiber\(s\) still wait and can never be woken/);
    // The wait's own frame in the script (line 10: `new Waiter().wait(...)`), none of stackful's.
    assert.match(child.stderr, /Fiber #\d+ \("waitsForever"\) waits in Queue\.get\n {4}at waitsForever \(.*hub-report\.js:10:\d+\)/);
    assert.doesNotMatch(child.stderr, /[\\/](dist|src)[\\/]hub[\\/]/);
    // Spawn sites are not recorded by default (they cost microseconds per greenlet).
    assert.doesNotMatch(child.stderr, /spawned at/);
  });

  it('with spawn sites recorded (setSpawnSites(true)), also says where each waiting fiber was spawned', () => {
    const child = runChild('hub-report.js', ['blocked-recorded']);
    assert.equal(child.status, 1, describeChild(child));
    assert.match(child.stderr, /Fiber #\d+ \("waitsForever"\) waits in Queue\.get\n {4}at waitsForever .*hub-report\.js:10/);
    assert.match(child.stderr, /spawned at .*hub-report\.js:9:\d+/);
  });

  it('says which greenlet a fiber stuck in join() waits for, and where it joins', () => {
    const child = runChild('hub-report.js', ['blocked-join']);
    assert.equal(child.status, 1, describeChild(child));
    assert.match(child.stderr, /2 fiber\(s\) still wait/);
    assert.match(child.stderr, /Fiber #\d+ \("joiner"\) waits in join\(Greenlet #\d+ \("waitsForever"\)\)\n {4}at joiner .*hub-report\.js:\d+/);
  });

  it('reports an exception of a greenlet nobody joined', () => {
    const child = runChild('hub-report.js', ['unjoined']);
    assert.equal(child.status, 0, describeChild(child));
    assert.match(child.stderr, /Greenlet #\d+ \("fails"\) failed and nobody joined it:\nError: nobody is listening/);
  });

  it('stays quiet when someone joins the greenlet', () => {
    const child = runChild('hub-report.js', ['handled']);
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.match(child.stdout, /joined: someone joins/);
  });

  it('hands the error to process.on(\'greenletError\') listeners instead', () => {
    const child = runChild('hub-report.js', ['listener']);
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.match(child.stdout, /greenletError: to the listener from Greenlet #\d+ \("fails"\)/);
  });
});

void Greenlet;

describe('AsyncResource scopes inside fibers', () => {
  it('switching away inside runInAsyncScope() and bind() keeps Node\'s async-hooks stack intact', () => {
    const child = runChild('async-scope.js', [], { nodeArgs: ['--force-async-hooks-checks'] });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    assert.deepEqual(JSON.parse(child.stdout.trim()), [1, 2, 3].map((n) => [`resource ${n}`, `resource ${n}`, `resource ${n}`, `fiber ${n}`]));
  });
});
