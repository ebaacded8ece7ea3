import assert from 'node:assert/strict';
import {
  AsyncResult,
  BoundedSemaphore,
  Channel,
  Event,
  Fiber,
  FiberExit,
  Greenlet,
  Group,
  JoinableQueue,
  local,
  Lock,
  Pool,
  Queue,
  QueueEmpty,
  QueueFull,
  RLock,
  runInFiber,
  Semaphore,
  sleep,
  spawn,
  SyncError,
  TimeoutError,
} from 'stackful';
// The module instance 'stackful' itself uses (internal: not exported by the package).
import { setDrainSlice } from '../dist/internal.js';
import { codeOf } from './helpers';

/** Lets every ready fiber run `n` times (sleep(0) yields to all of them once). */
function turns(n = 1): void {
  for (let i = 0; i < n; i++) sleep(0);
}

/**
 * Runs `fn` after the current drain of the ready queue, on the root fiber,
 * before the next one. Only when drains wait for loop turns: run the test
 * under loopTurnDrains().
 */
function onRootBetweenDrains(fn: () => void): void {
  process.nextTick(fn);
}

/** Runs `body` with every drain of the ready queue on its own event-loop turn. */
async function loopTurnDrains(body: () => Promise<void>): Promise<void> {
  const slice = setDrainSlice(0);
  try {
    await body();
  } finally {
    setDrainSlice(slice);
  }
}

/**
 * Keeps this fiber busy (without yielding) until `ms` have passed, so that a
 * timer due meanwhile fires before any fiber woken now resumes. Ordering, not
 * timing, is what the tests assert.
 */
function spinPast(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe('Event', () => {
  it('wait() blocks until set() and wakes every waiter in FIFO order', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const ev = new Event();
      const waiters = ['a', 'b', 'c'].map((name) => spawn(() => log.push(`${name} ${ev.wait()}`)));
      turns();
      log.push('set');
      ev.set();
      waiters.forEach((g) => g.join());
    });
    assert.deepEqual(log, ['set', 'a true', 'b true', 'c true']);
  });

  it('set() from the hub wakes every waiter, though each runs at once and leaves the line', async () => {
    const ev = new Event();
    const waiters = ['a', 'b', 'c'].map((name) => spawn(() => `${name} ${ev.wait(10_000)}`));
    await new Promise((resolve) => setTimeout(resolve, 20)); // all three parked
    ev.set(); // on the root: each waiter resumes inside this call
    assert.deepEqual(await Promise.all(waiters), ['a true', 'b true', 'c true']);
  });

  it('Queue.join(), Queue.peek() and Semaphore.wait() wake every waiter from the hub too', async () => {
    const queue = new JoinableQueue<number>();
    queue.put(1);
    const joiners = [1, 2].map(() => spawn(() => queue.join(10_000)));
    const empty = new Queue<number>();
    const peekers = [1, 2].map(() => spawn(() => empty.peek({ timeout: 10_000 })));
    const semaphore = new Semaphore(0);
    const watchers = [1, 2].map(() => spawn(() => semaphore.wait(10_000)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    queue.getNowait();
    queue.taskDone();
    empty.putNowait(7);
    semaphore.release();
    assert.deepEqual(await Promise.all([...joiners, ...peekers, ...watchers]), [true, true, 7, 7, 1, 1]);
  });

  it('wait() returns at once while set, and blocks again after clear()', async () => {
    await runInFiber(() => {
      const ev = new Event();
      ev.set();
      assert.equal(ev.isSet(), true);
      assert.equal(ev.wait(), true);
      ev.clear();
      assert.equal(ev.isSet(), false);
      assert.equal(ev.wait(5), false);
    });
  });

  it('a waiter woken by set() returns true even if clear() ran before it resumed', async () => {
    const result = await runInFiber(() => {
      const ev = new Event();
      const g = spawn(() => ev.wait());
      turns();
      ev.set();
      ev.clear();
      return g.get();
    });
    assert.equal(result, true);
  });

  it('wait(timeout) returns false and leaves no stale waiter', async () => {
    await runInFiber(() => {
      const ev = new Event();
      assert.equal(ev.wait(1), false);
      assert.match(String(ev), /0 waiting/);
      const g = spawn(() => ev.wait());
      turns();
      assert.match(String(ev), /1 waiting/);
      ev.set();
      assert.equal(g.get(), true);
    });
  });

  it('kill() while waiting runs the finally and leaves the event usable', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const ev = new Event();
      const victim = spawn(() => {
        try {
          ev.wait();
          log.push('victim woke');
        } finally {
          log.push('victim finally');
        }
      });
      const other = spawn(() => log.push(`other ${ev.wait()}`));
      turns();
      victim.kill();
      assert.match(String(ev), /1 waiting/);
      ev.set();
      other.join();
      assert.equal(victim.successful(), true);
    });
    assert.deepEqual(log, ['victim finally', 'other true']);
  });
});

describe('AsyncResult', () => {
  it('get() blocks until set() and gives every waiter the value', async () => {
    const values = await runInFiber(() => {
      const result = new AsyncResult<number>();
      const getters = [spawn(() => result.get()), spawn(() => result.get()), spawn(() => result.wait())];
      turns();
      assert.equal(result.ready(), false);
      result.set(42);
      assert.equal(result.ready(), true);
      assert.equal(result.successful(), true);
      assert.equal(result.value, 42);
      return getters.map((g) => g.get());
    });
    assert.deepEqual(values, [42, 42, 42]);
  });

  it('setException() makes get() throw in every waiter; wait() returns undefined', async () => {
    await runInFiber(() => {
      const result = new AsyncResult<number>();
      const boom = new Error('boom');
      const getter = spawn(() => result.get());
      const waiter = spawn(() => result.wait());
      turns();
      result.setException(boom);
      assert.throws(() => getter.get(), (err) => err === boom);
      assert.equal(waiter.get(), undefined);
      assert.equal(result.successful(), false);
      assert.equal(result.exception, boom);
      assert.throws(() => result.get(), (err) => err === boom);
    });
  });

  it('get({ timeout }) throws TimeoutError; get({ block: false }) throws ERR_NOT_READY', async () => {
    await runInFiber(() => {
      const result = new AsyncResult();
      assert.throws(() => result.get({ timeout: 1 }), (err: Error) => err instanceof TimeoutError && (err as TimeoutError).code === 'ERR_FIBER_TIMEOUT');
      assert.equal(result.wait(1), undefined);
      assert.throws(() => result.get({ block: false }), (err: SyncError) => err instanceof SyncError && err.code === 'ERR_NOT_READY');
      assert.match(String(result), /0 |pending/);
    });
  });

  it('is a thenable: async code awaits the value or the exception', async () => {
    const ok = new AsyncResult<string>();
    const bad = new AsyncResult<string>();
    runInFiber(() => {
      sleep(0);
      ok.set('yes');
      bad.setException(new Error('no'));
    });
    assert.equal(await ok, 'yes');
    await assert.rejects(async () => bad, /no/);
  });

  it('settles once: a second set() or setException() throws ERR_ASYNC_RESULT_SETTLED', () => {
    const result = new AsyncResult<number>();
    result.set(1);
    assert.equal(codeOf(() => result.set(2)), 'ERR_ASYNC_RESULT_SETTLED');
    assert.equal(codeOf(() => result.setException(new Error('late'))), 'ERR_ASYNC_RESULT_SETTLED');
    assert.equal(result.value, 1);
  });

  it('kill() while in get() runs the finally and leaves the result usable', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const result = new AsyncResult<string>();
      const victim = spawn(() => {
        try {
          result.get();
        } finally {
          log.push('victim finally');
        }
      });
      const other = spawn(() => result.get());
      turns();
      victim.kill();
      result.set('v');
      log.push(`other ${other.get()}`);
    });
    assert.deepEqual(log, ['victim finally', 'other v']);
  });
});

describe('Queue', () => {
  it('is FIFO, with qsize(), empty(), full(), peek()', async () => {
    await runInFiber(() => {
      const q = new Queue<number>(3);
      assert.equal(q.empty(), true);
      q.put(1);
      q.put(2);
      q.putNowait(3);
      assert.equal(q.qsize(), 3);
      assert.equal(q.full(), true);
      assert.equal(q.peek(), 1);
      assert.equal(q.peekNowait(), 1);
      assert.deepEqual([q.get(), q.get(), q.getNowait()], [1, 2, 3]);
      assert.equal(q.empty(), true);
      assert.equal(q.maxsize, 3);
    });
  });

  it('putNowait() on a full queue throws QueueFull and getNowait() on an empty one QueueEmpty', () => {
    const q = new Queue<number>(1);
    q.putNowait(1);
    assert.throws(() => q.putNowait(2), (err: QueueFull) => err instanceof QueueFull && err.code === 'ERR_QUEUE_FULL');
    assert.equal(q.getNowait(), 1);
    assert.throws(() => q.getNowait(), (err: QueueEmpty) => err instanceof QueueEmpty && err.code === 'ERR_QUEUE_EMPTY');
    assert.throws(() => q.peekNowait(), QueueEmpty);
  });

  it('get({ timeout }) and peek({ timeout }) throw QueueEmpty, and the expired getter is not served later', async () => {
    await runInFiber(() => {
      const q = new Queue<string>();
      assert.throws(() => q.get({ timeout: 1 }), (err: QueueEmpty) => err.code === 'ERR_QUEUE_EMPTY');
      assert.throws(() => q.peek({ timeout: 1 }), QueueEmpty);
      assert.equal(q.waitingGetters, 0);
      q.put('kept');
      assert.equal(q.qsize(), 1);
      assert.equal(q.get(), 'kept');
    });
  });

  it('put({ timeout }) on a full queue throws QueueFull, and the item never enters', async () => {
    await runInFiber(() => {
      const q = new Queue<string>(1);
      q.put('a');
      assert.throws(() => q.put('b', { timeout: 1 }), (err: QueueFull) => err.code === 'ERR_QUEUE_FULL');
      assert.equal(q.waitingPutters, 0);
      assert.equal(q.get(), 'a');
      assert.equal(q.qsize(), 0);
    });
  });

  it('a bounded queue blocks the producer at maxsize until the consumer takes an item', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const q = new Queue<number>(2);
      const producer = spawn(() => {
        for (let i = 1; i <= 5; i++) {
          q.put(i);
          log.push(`put ${i}`);
        }
      });
      turns();
      log.push(`consumer starts with ${q.qsize()} queued`);
      for (let i = 1; i <= 5; i++) log.push(`got ${q.get()}`);
      producer.join();
    });
    assert.deepEqual(log, [
      'put 1',
      'put 2', // the third put blocks: the queue holds 2
      'consumer starts with 2 queued',
      'got 1', // frees a slot: item 3 enters at once, the producer is woken
      'got 2',
      'got 3',
      'put 3', // the producer resumes only now
      'put 4', // handed straight to the waiting consumer
      'put 5',
      'got 4',
      'got 5',
    ]);
    assert.ok(log.indexOf('put 3') > log.indexOf('got 1'));
  });

  it('serves waiting getters in FIFO order', async () => {
    const got = await runInFiber(() => {
      const q = new Queue<number>();
      const out: string[] = [];
      const getters = ['a', 'b', 'c'].map((name) => spawn(() => out.push(`${name}=${q.get()}`)));
      turns();
      q.put(1);
      q.put(2);
      q.put(3);
      getters.forEach((g) => g.join());
      return out;
    });
    assert.deepEqual(got, ['a=1', 'b=2', 'c=3']);
  });

  it('serves waiting putters in FIFO order, and a later putNowait() cannot overtake them', async () => {
    const got = await runInFiber(() => {
      const q = new Queue<string>(1);
      q.put('first');
      const putters = ['a', 'b', 'c'].map((name) => spawn(() => q.put(name)));
      turns();
      assert.equal(q.waitingPutters, 3);
      const out = [q.get()];
      assert.throws(() => q.putNowait('late'), QueueFull);
      for (let i = 0; i < 3; i++) out.push(q.get());
      putters.forEach((g) => g.join());
      return out;
    });
    assert.deepEqual(got, ['first', 'a', 'b', 'c']);
  });

  it('kill() of a blocked getter runs its finally; the next put goes to the next getter', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const q = new Queue<string>();
      const victim = spawn(() => {
        try {
          log.push(`victim got ${q.get()}`);
        } finally {
          log.push('victim finally');
        }
      });
      const next = spawn(() => log.push(`next got ${q.get()}`));
      turns();
      victim.kill();
      assert.equal(q.waitingGetters, 1);
      q.put('x');
      next.join();
      assert.equal(q.qsize(), 0);
    });
    assert.deepEqual(log, ['victim finally', 'next got x']);
  });

  it('kill() of a blocked putter runs its finally and its item never enters', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const q = new Queue<string>(1);
      q.put('a');
      const victim = spawn(() => {
        try {
          q.put('never');
        } finally {
          log.push('victim finally');
        }
      });
      const next = spawn(() => q.put('b'));
      turns();
      victim.kill();
      assert.equal(q.waitingPutters, 1);
      log.push(q.get(), q.get());
      next.join();
      assert.equal(q.qsize(), 0);
    });
    assert.deepEqual(log, ['victim finally', 'a', 'b']);
  });

  it('a getter handed an item but killed before it resumed gives the item back', () => loopTurnDrains(async () => {
    await runInFiber(() => {
      const q = new Queue<string>();
      const getter = spawn(() => q.get());
      turns();
      q.put('precious'); // the getter holds it now, and will resume on the next drain
      onRootBetweenDrains(() => getter.kill()); // ... but the kill comes first, from the hub
      getter.join();
      assert.equal(getter.value, undefined);
      assert.equal(q.qsize(), 1);
      assert.equal(q.get(), 'precious');
    });
  }));

  it('an item handed over just as the getter\'s own timeout expires is returned, not lost', async () => {
    await runInFiber(() => {
      const q = new Queue<string>();
      const getter = spawn(() => q.get({ timeout: 5 }));
      turns();
      spinPast(20); // the getter's deadline is now due: its timer fires before it resumes
      q.put('just in time');
      assert.equal(getter.get(), 'just in time');
      assert.equal(q.qsize(), 0);
    });
  });

  it('rejects a maxsize that is not a positive integer', () => {
    assert.throws(() => new Queue(0), (err: RangeError) => /use Channel/.test(err.message));
    assert.throws(() => new Queue(1.5), TypeError);
    assert.equal(new Queue().maxsize, Infinity);
    assert.equal(new Queue(Infinity).full(), false);
  });

  it('an unbounded put() never blocks, so it works on the root fiber', () => {
    const q = new Queue<number>();
    q.put(1);
    q.put(2);
    assert.equal(q.qsize(), 2);
    assert.equal(q.getNowait(), 1);
  });
});

describe('JoinableQueue', () => {
  it('join() waits until taskDone() was called for every item', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const q = new JoinableQueue<number>();
      const worker = spawn(() => {
        for (;;) {
          const item = q.get();
          sleep(0);
          log.push(`done ${item}`);
          q.taskDone();
        }
      });
      for (let i = 1; i <= 3; i++) q.put(i);
      assert.equal(q.unfinishedTasks, 3);
      assert.equal(q.join(), true);
      log.push('joined');
      assert.equal(q.unfinishedTasks, 0);
      worker.kill();
    });
    assert.deepEqual(log, ['done 1', 'done 2', 'done 3', 'joined']);
  });

  it('join(timeout) returns false while items are unfinished; taskDone() too often throws', async () => {
    await runInFiber(() => {
      const q = new JoinableQueue<number>();
      assert.equal(q.join(), true);
      q.put(1);
      assert.equal(q.join(1), false);
      q.get();
      q.taskDone();
      assert.equal(q.join(1), true);
      assert.equal(codeOf(() => q.taskDone()), 'ERR_QUEUE_TASK_DONE_TOO_OFTEN');
    });
  });

  it('counts items handed straight to a waiting getter', async () => {
    await runInFiber(() => {
      const q = new JoinableQueue<number>();
      const getter = spawn(() => q.get());
      turns();
      q.put(7);
      assert.equal(q.unfinishedTasks, 1);
      assert.equal(getter.get(), 7);
      q.taskDone();
      assert.equal(q.join(), true);
    });
  });
});

describe('Channel', () => {
  it('put() blocks until a getter takes the item (a rendezvous)', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const ch = new Channel<string>();
      const putter = spawn(() => {
        log.push('put starts');
        ch.put('x');
        log.push('put returned');
      });
      turns(3);
      log.push(`balance ${ch.balance}`);
      log.push(`got ${ch.get()}`);
      putter.join();
    });
    assert.deepEqual(log, ['put starts', 'balance 1', 'got x', 'put returned']);
  });

  it('get() blocks until a putter offers an item', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const ch = new Channel<number>();
      const getter = spawn(() => log.push(`got ${ch.get()}`));
      turns();
      assert.equal(ch.balance, -1);
      ch.put(5);
      log.push('put returned');
      getter.join();
    });
    assert.deepEqual(log, ['put returned', 'got 5']);
  });

  it('has no buffer: putNowait() without a getter throws QueueFull, getNowait() without a putter QueueEmpty', async () => {
    await runInFiber(() => {
      const ch = new Channel<number>();
      assert.throws(() => ch.putNowait(1), QueueFull);
      assert.throws(() => ch.getNowait(), QueueEmpty);
      assert.throws(() => ch.put(1, { timeout: 1 }), QueueFull);
      assert.throws(() => ch.get({ timeout: 1 }), QueueEmpty);
      assert.equal(ch.balance, 0);
      assert.equal(ch.qsize(), 0);
      const getter = spawn(() => ch.get());
      turns();
      ch.putNowait(9);
      assert.equal(getter.get(), 9);
    });
  });

  it('kill() of a blocked putter withdraws its item', async () => {
    await runInFiber(() => {
      const ch = new Channel<string>();
      const victim = spawn(() => ch.put('never'));
      const other = spawn(() => ch.put('real'));
      turns();
      victim.kill();
      assert.equal(ch.balance, 1);
      assert.equal(ch.get(), 'real');
      other.join();
    });
  });
});

describe('Semaphore', () => {
  it('counts tokens: acquire() takes, release() returns, locked() at 0', async () => {
    await runInFiber(() => {
      const sem = new Semaphore(2);
      assert.equal(sem.acquire(), true);
      assert.equal(sem.acquire(), true);
      assert.equal(sem.locked(), true);
      assert.equal(sem.acquire({ block: false }), false);
      assert.equal(sem.release(), 1);
      assert.equal(sem.locked(), false);
      assert.equal(sem.counter, 1);
    });
  });

  it('wakes waiters in FIFO order, and a newcomer cannot take a token meant for one', async () => {
    const order = await runInFiber(() => {
      const sem = new Semaphore(0);
      const out: string[] = [];
      const waiters = ['a', 'b', 'c', 'd'].map((name) =>
        spawn(() => {
          sem.acquire();
          out.push(name);
        }),
      );
      turns();
      sem.release(); // handed to a, which has not run yet
      assert.equal(sem.counter, 0);
      assert.equal(sem.acquire({ block: false }), false);
      sem.release();
      sem.release();
      sem.release();
      waiters.forEach((g) => g.join());
      return out;
    });
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  });

  it('acquire({ timeout }) returns false and the expired waiter gets no token later', async () => {
    await runInFiber(() => {
      const sem = new Semaphore(0);
      assert.equal(sem.acquire({ timeout: 1 }), false);
      sem.release();
      assert.equal(sem.counter, 1);
    });
  });

  it('kill() while acquiring runs the finally; the next release goes to the next waiter', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const sem = new Semaphore(0);
      const victim = spawn(() => {
        try {
          sem.acquire();
          log.push('victim acquired');
        } finally {
          log.push('victim finally');
        }
      });
      const next = spawn(() => log.push(`next ${sem.acquire()}`));
      turns();
      victim.kill();
      sem.release();
      next.join();
      assert.equal(sem.counter, 0);
    });
    assert.deepEqual(log, ['victim finally', 'next true']);
  });

  it('a waiter handed a token but killed before it resumed passes the token on', () => loopTurnDrains(async () => {
    await runInFiber(() => {
      const sem = new Semaphore(0);
      const victim = spawn(() => sem.acquire());
      turns();
      sem.release(); // handed to the victim
      assert.equal(sem.counter, 0);
      onRootBetweenDrains(() => victim.kill());
      victim.join();
      assert.equal(sem.counter, 1);
    });
  }));

  it('a token handed over just as the waiter\'s own timeout expires counts as acquired', async () => {
    await runInFiber(() => {
      const sem = new Semaphore(0);
      const waiter = spawn(() => sem.acquire({ timeout: 5 }));
      turns();
      spinPast(20);
      sem.release();
      assert.equal(waiter.get(), true);
      assert.equal(sem.counter, 0);
    });
  });

  it('wait() blocks until a token is free without taking it', async () => {
    await runInFiber(() => {
      const sem = new Semaphore(0);
      const watcher = spawn(() => sem.wait());
      turns();
      assert.equal(watcher.ready(), false);
      sem.release();
      assert.equal(watcher.get(), 1);
      assert.equal(sem.counter, 1);
      assert.equal(new Semaphore(0).wait(1), 0);
    });
  });

  it('a plain Semaphore may be released past its initial value; a BoundedSemaphore throws', () => {
    const sem = new Semaphore(1);
    sem.release();
    assert.equal(sem.counter, 2);
    const bounded = new BoundedSemaphore(2);
    assert.equal(bounded.acquire({ block: false }), true);
    bounded.release();
    assert.throws(() => bounded.release(), (err: SyncError) => err instanceof SyncError && err.code === 'ERR_SEMAPHORE_OVER_RELEASED' && /initial value 2/.test(err.message));
    assert.equal(bounded.counter, 2);
  });

  it('rejects a negative or fractional value', () => {
    assert.throws(() => new Semaphore(-1), RangeError);
    assert.throws(() => new Semaphore(0.5), TypeError);
  });
});

describe('Lock and RLock', () => {
  it('Lock lets one fiber in at a time', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const lock = new Lock();
      const worker = (name: string): void => {
        lock.acquire();
        try {
          log.push(`${name} in`);
          turns(2);
          log.push(`${name} out`);
        } finally {
          lock.release();
        }
      };
      const gs = [spawn(worker, 'a'), spawn(worker, 'b'), spawn(worker, 'c')];
      gs.forEach((g) => g.join());
    });
    assert.deepEqual(log, ['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });

  it('releasing an unlocked Lock throws ERR_LOCK_NOT_LOCKED', () => {
    const lock = new Lock();
    assert.equal(codeOf(() => lock.release()), 'ERR_LOCK_NOT_LOCKED');
    assert.equal(lock.acquire({ block: false }), true);
    lock.release();
    assert.equal(lock.locked(), false);
  });

  it('RLock is re-entrant for its owner and makes others wait for the last release', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const rlock = new RLock();
      rlock.acquire();
      rlock.acquire();
      assert.equal(rlock.acquire({ timeout: 1 }), true);
      assert.equal(rlock.count, 3);
      assert.equal(rlock.isOwned(), true);
      const other = spawn(() => {
        rlock.acquire();
        log.push('other in');
        rlock.release();
      });
      turns();
      rlock.release();
      rlock.release();
      turns();
      log.push('owner still holds it');
      rlock.release();
      other.join();
      assert.equal(rlock.locked(), false);
    });
    assert.deepEqual(log, ['owner still holds it', 'other in']);
  });

  it('RLock refuses a release from a fiber that does not own it, naming both', async () => {
    await runInFiber(() => {
      const rlock = new RLock();
      assert.throws(() => rlock.release(), (err: SyncError) => err.code === 'ERR_LOCK_NOT_OWNED' && /not locked/.test(err.message));
      rlock.acquire();
      const intruder = spawn(() => rlock.release());
      intruder.join();
      assert.ok(intruder.exception instanceof SyncError);
      assert.equal((intruder.exception as SyncError).code, 'ERR_LOCK_NOT_OWNED');
      assert.match((intruder.exception as Error).message, new RegExp(`held by fiber #${Fiber.current.id}.*only the fiber that acquired it`));
      assert.equal(rlock.acquire({ block: false }), true);
      assert.equal(rlock.count, 2);
      rlock.release();
      rlock.release();
    });
  });

  it('kill() of a fiber waiting for an RLock leaves it consistent', async () => {
    await runInFiber(() => {
      const rlock = new RLock();
      rlock.acquire();
      const victim = spawn(() => rlock.acquire());
      const next = spawn(() => {
        rlock.acquire();
        const owned = rlock.isOwned();
        rlock.release();
        return owned;
      });
      turns();
      victim.kill();
      rlock.release();
      assert.equal(next.get(), true);
      assert.equal(rlock.locked(), false);
      assert.equal(rlock.owner, undefined);
    });
  });
});

describe('Pool and Group', () => {
  it('a Pool never runs more than its limit at once', async () => {
    const stats = await runInFiber(() => {
      const pool = new Pool(3);
      let running = 0;
      let most = 0;
      const task = (i: number): number => {
        running++;
        most = Math.max(most, running);
        turns(1 + (i * 7) % 4); // a fixed, uneven amount of work
        running--;
        return i;
      };
      for (let i = 0; i < 20; i++) {
        pool.spawn(task, i);
        assert.ok(pool.size <= 3);
      }
      pool.join();
      return { most, size: pool.size, free: pool.freeCount() };
    });
    assert.deepEqual(stats, { most: 3, size: 0, free: 3 });
  });

  it('spawn() blocks the spawning fiber while the Pool is full', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const pool = new Pool(1);
      const ev = new Event();
      pool.spawn(() => {
        ev.wait();
        log.push('first done');
      });
      assert.equal(pool.full(), true);
      assert.equal(pool.freeCount(), 0);
      const spawner = spawn(() => {
        log.push('spawning second');
        pool.spawn(() => log.push('second runs'));
        log.push('second spawned');
      });
      turns(2);
      log.push('releasing first');
      ev.set();
      spawner.join();
      pool.join();
    });
    assert.deepEqual(log, ['spawning second', 'releasing first', 'first done', 'second spawned', 'second runs']);
  });

  it('map() returns results in input order even when tasks finish in reverse', async () => {
    const results = await runInFiber(() => {
      const pool = new Pool(4);
      return pool.map((n: number) => {
        turns(10 - n);
        return n * n;
      }, [1, 2, 3, 4, 5, 6]);
    });
    assert.deepEqual(results, [1, 4, 9, 16, 25, 36]);
  });

  it('imapUnordered() yields in completion order; imap() in input order', async () => {
    const { unordered, ordered } = await runInFiber(() => {
      const group = new Group();
      const slowFirst = (n: number): number => {
        turns(5 - n);
        return n;
      };
      return {
        unordered: [...group.imapUnordered(slowFirst, [1, 2, 3, 4])],
        ordered: [...group.imap(slowFirst, [1, 2, 3, 4])],
      };
    });
    assert.deepEqual(unordered, [4, 3, 2, 1]);
    assert.deepEqual(ordered, [1, 2, 3, 4]);
  });

  it('imap() in a Pool keeps the limit and is lazy over an infinite input, stopped by break', async () => {
    const { first, most, left } = await runInFiber(() => {
      const pool = new Pool(2);
      let running = 0;
      let most = 0;
      function* naturals(): Generator<number> {
        for (let n = 0; ; n++) yield n;
      }
      const first: number[] = [];
      for (const value of pool.imap((n: number) => {
        running++;
        most = Math.max(most, running);
        try {
          turns(1);
          return n * 10;
        } finally {
          running--;
        }
      }, naturals())) {
        first.push(value);
        if (first.length === 5) break;
      }
      return { first, most, left: pool.size };
    });
    assert.deepEqual(first, [0, 10, 20, 30, 40]);
    assert.equal(most, 2);
    assert.equal(left, 0);
  });

  it('map() throws the first failure in input order and kills the tasks still running', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const group = new Group();
      const never = new Event();
      assert.throws(
        () =>
          group.map((n: number) => {
            try {
              if (n === 3) throw new Error('task 3 failed');
              if (n === 2) throw new Error('task 2 failed');
              if (n === 4) never.wait();
              turns(3);
              log.push(`task ${n} finished`);
            } finally {
              log.push(`task ${n} finally`);
            }
          }, [1, 2, 3, 4]),
        /task 2 failed/,
      );
      assert.equal(group.size, 0);
      assert.equal(group.join(), true);
    });
    assert.deepEqual(log.sort(), ['task 1 finally', 'task 1 finished', 'task 2 finally', 'task 3 finally', 'task 4 finally']);
  });

  it('join() waits for every member; join(timeout) returns false; raiseError throws a failure', async () => {
    await runInFiber(() => {
      const group = new Group();
      const ev = new Event();
      const g = group.spawn(() => ev.wait());
      assert.equal(group.size, 1);
      assert.equal(group.has(g), true);
      assert.equal(group.join(1), false);
      ev.set();
      assert.equal(group.join(), true);
      assert.equal(group.size, 0);
      group.spawn(() => {
        sleep(0);
        throw new Error('member failed');
      });
      group.spawn(() => ev.wait());
      ev.clear();
      assert.throws(() => group.join(undefined, { raiseError: true }), /member failed/);
      group.kill();
      assert.equal(group.size, 0);
    });
  });

  it('kill() kills every member and runs their finally blocks', async () => {
    const log: string[] = [];
    await runInFiber(() => {
      const group = new Group();
      for (const name of ['a', 'b']) {
        group.spawn(() => {
          try {
            new Event().wait();
          } finally {
            log.push(`${name} finally`);
          }
        });
      }
      turns();
      group.kill();
      assert.equal(group.size, 0);
    });
    assert.deepEqual(log, ['a finally', 'b finally']);
  });

  it('add() and discard() manage membership; a discarded member leaves the Pool slot free', async () => {
    await runInFiber(() => {
      const pool = new Pool(1);
      const ev = new Event();
      const g = new Greenlet(() => ev.wait());
      pool.add(g);
      pool.add(g); // twice: still one member
      assert.equal(pool.size, 1);
      assert.equal(pool.freeCount(), 0);
      assert.throws(() => pool.add(new Greenlet(() => 1), { block: false }), (err: SyncError) => err.code === 'ERR_POOL_FULL');
      assert.throws(() => pool.add(new Greenlet(() => 1), { timeout: 1 }), TimeoutError);
      pool.discard(g);
      assert.equal(pool.size, 0);
      assert.equal(pool.freeCount(), 1);
      g.start();
      ev.set();
      g.join();
      assert.equal(pool.freeCount(), 1);
      const group = new Group();
      assert.equal(group.freeCount(), Infinity);
      assert.equal(group.full(), false);
    });
  });

  it('kill() of a fiber blocked in Pool#spawn() leaks no slot', async () => {
    await runInFiber(() => {
      const pool = new Pool(1);
      const ev = new Event();
      pool.spawn(() => ev.wait());
      const log: string[] = [];
      const spawner = spawn(() => {
        try {
          pool.spawn(() => log.push('never'));
        } finally {
          log.push('spawner finally');
        }
      });
      turns();
      spawner.kill();
      ev.set();
      pool.join();
      assert.equal(pool.freeCount(), 1);
      assert.deepEqual(log, ['spawner finally']);
    });
  });
});

describe('local()', () => {
  it('gives every fiber its own properties', async () => {
    const seen = await runInFiber(() => {
      const ctx = local<{ name?: string }>();
      ctx.name = 'parent';
      const children = ['a', 'b'].map((name) =>
        spawn(() => {
          const before = ctx.name;
          ctx.name = name;
          sleep(0);
          return `${before ?? 'unset'}->${ctx.name}`;
        }),
      );
      const out = children.map((g) => g.get());
      out.push(ctx.name!);
      return out;
    });
    assert.deepEqual(seen, ['unset->a', 'unset->b', 'parent']);
  });

  it('runs init() once per fiber and supports in, delete and Object.keys()', async () => {
    let inits = 0;
    const ctx = local<{ count: number; extra?: string }>(() => {
      inits++;
      return { count: 0 };
    });
    const counts = await runInFiber(() => {
      ctx.count++;
      ctx.count++;
      ctx.extra = 'x';
      assert.deepEqual(Object.keys(ctx).sort(), ['count', 'extra']);
      assert.equal('extra' in ctx, true);
      delete ctx.extra;
      assert.equal('extra' in ctx, false);
      const other = spawn(() => ctx.count).get();
      return [ctx.count, other];
    });
    assert.deepEqual(counts, [2, 0]);
    assert.equal(ctx.count, 0); // the root fiber has its own too
    assert.equal(inits, 3);
  });

  it('does not keep values of dead fibers', async function () {
    if (typeof globalThis.gc !== 'function') this.skip();
    const ctx = local<{ payload?: object }>();
    let ref: WeakRef<object> | undefined;
    await runInFiber(() => {
      const payload = { big: new Array(1000).fill(1) };
      ref = new WeakRef(payload);
      ctx.payload = payload;
    });
    for (let i = 0; i < 10 && ref!.deref() !== undefined; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      globalThis.gc!();
    }
    assert.equal(ref!.deref(), undefined);
  });
});

describe('blocking on the root fiber', () => {
  it('every call that may block throws ERR_BLOCKING_ON_ROOT', () => {
    const ev = new Event();
    ev.set(); // even when it would not block
    const calls: Record<string, () => unknown> = {
      'Event#wait': () => ev.wait(),
      'AsyncResult#get': () => new AsyncResult().get(),
      'AsyncResult#wait': () => new AsyncResult().wait(1),
      'Queue#get': () => new Queue().get(),
      'Queue#put (bounded)': () => new Queue(1).put(1),
      'Queue#peek': () => new Queue().peek(),
      'JoinableQueue#join': () => new JoinableQueue().join(),
      'Channel#put': () => new Channel().put(1),
      'Channel#get': () => new Channel().get({ timeout: 1 }),
      'Semaphore#acquire': () => new Semaphore().acquire(),
      'Semaphore#wait': () => new Semaphore().wait(),
      'Lock#acquire': () => new Lock().acquire({ timeout: 1 }),
      'RLock#acquire': () => new RLock().acquire(),
      'Pool#spawn': () => new Pool(1).spawn(() => 1),
      'Pool#add': () => new Pool(1).add(new Greenlet(() => 1)),
      'Pool#waitAvailable': () => new Pool(1).waitAvailable(),
      'Group#join': () => new Group().join(),
      'Group#map': () => new Group().map((x) => x, [1]),
      'Group#imap': () => new Group().imap((x) => x, [1]).next(),
      'Group#imapUnordered': () => new Group().imapUnordered((x) => x, [1]).next(),
    };
    for (const [name, call] of Object.entries(calls)) {
      assert.equal(codeOf(call), 'ERR_BLOCKING_ON_ROOT', name);
    }
  });

  it('the calls that never wait work on the root fiber', () => {
    const sem = new Semaphore(1);
    assert.equal(sem.acquire({ block: false }), true);
    sem.release();
    const lock = new RLock();
    assert.equal(lock.acquire({ block: false }), true);
    assert.equal(lock.owner, Fiber.root);
    lock.release();
    const q = new Queue<number>(1);
    q.putNowait(1);
    assert.equal(q.getNowait(), 1);
    const ev = new Event();
    ev.set();
    ev.clear();
    const result = new AsyncResult<number>();
    result.set(1);
    assert.equal(result.value, 1);
  });
});

describe('sync primitives and FiberExit', () => {
  it('a kill() reaches a fiber parked in a primitive under its own timeout', async () => {
    await runInFiber(() => {
      const q = new Queue();
      const g = spawn(() => q.get({ timeout: 10_000 }));
      turns();
      g.kill(new FiberExit('stopped'));
      assert.equal(g.value, 'stopped');
      assert.equal(q.waitingGetters, 0);
    });
  });
});
