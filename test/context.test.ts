import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Fiber } from 'stackful';

describe('AsyncLocalStorage in fibers', () => {
  const als = new AsyncLocalStorage<string>();

  it('a fiber starts with its creator\'s store, and what it enters does not leak back', () => {
    als.run('root store', () => {
      const f = new Fiber(() => {
        const seenAtStart = als.getStore();
        als.enterWith('fiber store');
        Fiber.yield(seenAtStart);
        return als.getStore();
      });
      assert.equal(f.run(), 'root store');
      assert.equal(als.getStore(), 'root store', 'the fiber\'s enterWith leaked into its resumer');
      assert.equal(f.run(), 'fiber store', 'the fiber lost its own store across a switch');
      assert.equal(als.getStore(), 'root store');
    });
  });

  it('a fiber does not see the store of whoever starts or resumes it', () => {
    const body = () => {
      const first = als.getStore();
      Fiber.yield();
      return [first, als.getStore()];
    };
    const f = als.run('creator', () => new Fiber(body));
    als.run('starter', () => f.run());
    assert.deepEqual(als.run('resumer', () => f.run()), ['creator', 'creator']);
    const g = new Fiber(body); // created outside any store
    als.run('starter', () => g.run());
    assert.deepEqual(als.run('resumer', () => g.run()), [undefined, undefined]);
  });

  it('fibers switching among themselves keep their own stores', () => {
    const log: string[] = [];
    let b!: Fiber;
    const a = new Fiber(() => {
      als.enterWith('a');
      b.switch();
      log.push(`a sees ${als.getStore()}`);
      b.switch();
      log.push(`a sees ${als.getStore()}`);
    });
    b = new Fiber(() => {
      als.enterWith('b');
      a.switch();
      log.push(`b sees ${als.getStore()}`);
      a.switch();
    });
    als.run('root', () => {
      a.switch();
      log.push(`root sees ${als.getStore()}`);
    });
    assert.deepEqual(log, ['a sees a', 'b sees b', 'a sees a', 'root sees root']);
  });

  it('keeps 100 fibers\' stores apart when resumed in a seeded random order from timers', async () => {
    let seed = 12345; // xorshift32: deterministic, full period
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const fibers = Array.from({ length: 100 }, (_, id) => new Fiber(() => {
      als.enterWith(`fiber ${id}`);
      for (let round = 0; round < 10; round++) {
        Fiber.yield();
        if (als.getStore() !== `fiber ${id}`) throw new Error(`fiber ${id} saw ${als.getStore()}`);
      }
      return id;
    }));
    for (const f of fibers) f.run();
    let finished = 0;
    while (finished < fibers.length) {
      const alive = fibers.filter((f) => !f.dead);
      const f = alive[random(alive.length)]!;
      await new Promise<void>((resolve) => setTimeout(() => {
        als.run('timer', () => {
          f.run();
          assert.equal(als.getStore(), 'timer', 'a fiber changed the store of the callback that resumed it');
        });
        resolve();
      }, 0));
      if (f.dead) finished++;
    }
    assert.equal(finished, 100);
  });
});
