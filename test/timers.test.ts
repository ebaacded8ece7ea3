import assert from 'node:assert/strict';
import * as stackful from 'stackful';
import { runInFiber, spawn, joinAll } from 'stackful';
import * as timers from 'stackful/timers';
import { sleep } from 'stackful/timers';
// The module instance 'stackful' itself uses (internal: not exported by the package).
import { setDrainSlice } from '../dist/internal.js';

const timeouts = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

describe('stackful/timers', () => {
  it('exports sleep, the same function as require(\'stackful\').sleep, and nothing else', () => {
    assert.equal(sleep, stackful.sleep);
    assert.deepEqual(Object.keys(timers).filter((key) => key !== 'default'), ['sleep']);
  });

  it('sleep(ms) parks only the calling fiber: other fibers and timers run meanwhile, and it returns after ms', async () => {
    const log: string[] = [];
    const timer = setTimeout(() => log.push('timer'), 5);
    const waited = await runInFiber(() => {
      const started = Date.now();
      const other = spawn(() => log.push('other fiber'));
      sleep(30);
      log.push('slept');
      joinAll([other]);
      return Date.now() - started;
    });
    clearTimeout(timer);
    // Both ran while this fiber slept; which of the two came first depends on
    // how loaded the machine is (a 5 ms timer against the next loop turn).
    assert.deepEqual([...log.slice(0, 2)].sort(), ['other fiber', 'timer']);
    assert.equal(log[2], 'slept');
    assert.equal(log.length, 3);
    assert.ok(waited >= 29, `returned after ${waited} ms`);
  });

  it('sleep(0) lets every other ready fiber run once before it continues', async () => {
    const out: string[] = [];
    const count = (name: string): void => {
      for (let i = 0; i < 3; i++) {
        out.push(`${name}${i}`);
        sleep();
      }
    };
    await runInFiber(() => joinAll([spawn(count, 'a'), spawn(count, 'b')]));
    assert.deepEqual(out, ['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });

  describe('sleep(0) and the hub acting between drains', () => {
    // Every drain on its own loop turn, so a nextTick runs between two drains.
    let slice: number;
    before(() => {
      slice = setDrainSlice(0);
    });
    after(() => {
      setDrainSlice(slice);
    });

    it('a fiber thrown into while in sleep(0) leaves it at once, and its stale turn does not disturb its next wait', async () => {
      const log: string[] = [];
      await runInFiber(() => {
        const victim = spawn(() => {
          try {
            sleep(0);
            log.push('woke');
          } catch (err) {
            log.push(`caught ${(err as Error).message}`);
          }
          sleep(0);
          log.push('second sleep done');
        });
        sleep(0); // the victim is in sleep(0) now, its turn queued
        process.nextTick(() => victim.fiber.throw(new Error('poke'))); // from the hub, before that turn
        victim.join();
      });
      assert.deepEqual(log, ['caught poke', 'second sleep done']);
    });

    it('a stray switch into a fiber in sleep(0) does not end it: it waits for its turn', async () => {
      const log: string[] = [];
      await runInFiber(() => {
        const sleeper = spawn(() => {
          sleep(0);
          log.push('woke');
        });
        sleep(0);
        process.nextTick(() => {
          sleeper.fiber.switch();
          log.push('stray switch returned');
        });
        sleeper.join();
      });
      assert.deepEqual(log, ['stray switch returned', 'woke']);
    });
  });

  it('throws ERR_BLOCKING_ON_ROOT on the root fiber, and RangeError for a bad duration', async () => {
    assert.throws(() => sleep(10), (err: NodeJS.ErrnoException) => err.code === 'ERR_BLOCKING_ON_ROOT');
    assert.throws(() => sleep(0), (err: NodeJS.ErrnoException) => err.code === 'ERR_BLOCKING_ON_ROOT');
    const errors = await runInFiber(() => [-1, NaN, '5' as never].map((ms) => {
      try {
        sleep(ms);
        return 'slept';
      } catch (err) {
        return (err as Error).name;
      }
    }));
    assert.deepEqual(errors, ['RangeError', 'RangeError', 'RangeError']);
  });

  it('a fiber killed while it sleeps wakes at once, runs its finally, and leaves no timer behind', async () => {
    const log: string[] = [];
    const [before, after] = await runInFiber(() => {
      const before = timeouts(); // here, since mocha arms its own timer once the test has returned its promise
      const sleeper = spawn(() => {
        try {
          sleep(60_000);
          log.push('woke');
        } finally {
          log.push('finally');
        }
      });
      sleep(10);
      assert.equal(timeouts(), before + 1, 'the sleeper has no timer');
      sleeper.kill();
      log.push(`killed, dead: ${sleeper.dead}`);
      return [before, timeouts()];
    });
    assert.deepEqual(log, ['finally', 'killed, dead: true']);
    assert.equal(after, before, 'the killed sleeper left its timer running');
  });
});
