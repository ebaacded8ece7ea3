import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Fiber, FiberError } from 'stackful';

describe('exceptions across switches', () => {
  it('an error thrown in a fiber reaches the parent with its original stack', () => {
    function failingInsideFiber(): never {
      throw new Error('from the fiber');
    }
    const f = new Fiber(() => failingInsideFiber());
    assert.throws(() => f.run(), (err: Error) => {
      assert.equal(err.message, 'from the fiber');
      assert.match(String(err.stack), /failingInsideFiber/);
      return true;
    });
  });

  it('an error thrown three fibers deep reaches the right parent', () => {
    const log: string[] = [];
    function deepest(): never {
      throw new RangeError('three deep');
    }
    const c = new Fiber(() => deepest(), { name: 'c' });
    const b = new Fiber(() => {
      try {
        return c.run();
      } finally {
        log.push('b finally');
      }
    }, { name: 'b' });
    const a = new Fiber(() => {
      try {
        b.run();
      } catch (err) {
        log.push(`a caught ${(err as Error).message}`);
        return (err as Error).stack;
      }
    }, { name: 'a' });
    const stack = a.run() as string;
    assert.deepEqual(log, ['b finally', 'a caught three deep']);
    assert.match(stack, /^RangeError: three deep/);
    assert.match(stack, /deepest/);
    assert.equal(a.dead && b.dead && c.dead, true);
  });

  it('try/finally spans a switch in both directions', () => {
    const log: string[] = [];
    const f = new Fiber(() => {
      try {
        log.push('fiber try');
        Fiber.yield();
        log.push('fiber resumed');
        throw new Error('after resume');
      } finally {
        log.push('fiber finally');
      }
    });
    try {
      f.run();
      log.push('root between');
      f.run();
    } catch (err) {
      log.push(`root caught ${(err as Error).message}`);
    } finally {
      log.push('root finally');
    }
    assert.deepEqual(log, ['fiber try', 'root between', 'fiber resumed', 'fiber finally', 'root caught after resume', 'root finally']);
  });

  it('errors from Node APIs inside a fiber keep their code', () => {
    const f = new Fiber(() => {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('node:fs').readFileSync('/definitely/not/here');
      } catch (err) {
        return (err as NodeJS.ErrnoException).code;
      }
    });
    assert.equal(f.run(), 'ENOENT');
  });

  it('thrown non-Error values pass through unchanged', () => {
    const value = { not: 'an error' };
    const f = new Fiber(() => {
      throw value;
    });
    assert.throws(() => f.run(), (err) => err === value);
  });
});

describe('stack traces inside fibers', () => {
  it('new Error().stack shows the fiber\'s own frames', () => {
    function insideTheFiber(): string {
      return String(new Error('here').stack);
    }
    function rootCaller(): string {
      return new Fiber(() => insideTheFiber()).run() as string;
    }
    const stack = rootCaller();
    assert.match(stack, /insideTheFiber/);
    // The fiber's stack starts at its entry: the root's frames are not in it.
    assert.doesNotMatch(stack, /rootCaller/);
  });
});

describe('resuming fibers from the event loop', () => {
  function suspendedFiber(log: string[]): Fiber {
    const f = new Fiber(() => {
      log.push(`got ${String(Fiber.yield('parked'))}`);
      return 'finished';
    });
    assert.equal(f.run(), 'parked');
    return f;
  }

  it('from setTimeout, setImmediate, process.nextTick and Promise callbacks', async () => {
    const log: string[] = [];
    const fibers = [suspendedFiber(log), suspendedFiber(log), suspendedFiber(log), suspendedFiber(log)];
    const results = await Promise.all([
      new Promise((resolve) => setTimeout(() => resolve(fibers[0]!.run('timeout')), 5)),
      new Promise((resolve) => setImmediate(() => resolve(fibers[1]!.run('immediate')))),
      new Promise((resolve) => process.nextTick(() => resolve(fibers[2]!.run('nextTick')))),
      Promise.resolve().then(() => fibers[3]!.run('promise')),
    ]);
    assert.deepEqual(results, ['finished', 'finished', 'finished', 'finished']);
    assert.deepEqual(log.sort(), ['got immediate', 'got nextTick', 'got promise', 'got timeout']);
  });

  it('a fiber can wait for a promise and be resumed by it', async () => {
    const waitFor = <T>(promise: Promise<T>): T => {
      const self = Fiber.current;
      promise.then((v) => self.run(v));
      return Fiber.yield() as T;
    };
    const done = new Promise((resolve) => {
      const f = new Fiber(() => {
        const a = waitFor(new Promise<number>((r) => setTimeout(() => r(20), 2)));
        const b = waitFor(Promise.resolve(22));
        resolve(a + b);
      });
      f.run();
    });
    assert.equal(await done, 42);
  });
});

describe('floating point and stack alignment', () => {
  function numericFingerprint(): string[] {
    const xs = [0.1, 1 / 3, Math.PI, 1e-300, 123456.789, -2.5, 2 ** 53 + 1];
    const out: string[] = [];
    for (const x of xs) {
      out.push(
        Math.sin(x).toString(), Math.exp(x / 100).toString(), Math.log(Math.abs(x)).toString(),
        Math.sqrt(Math.abs(x)).toString(), Math.atan2(x, 3).toString(), Math.pow(Math.abs(x), 0.37).toString(),
        Math.fround(x).toString(), x.toFixed(20), x.toPrecision(21), x.toExponential(15),
        new Intl.NumberFormat('de-DE', { maximumFractionDigits: 10 }).format(x),
        (x * 1e10).toLocaleString('en-US'), JSON.stringify({ x }), String(Number.parseFloat(`${x}e3`)),
      );
    }
    out.push(new Date(1234567890123).toISOString(), (0.1 + 0.2).toString(), String(Math.round(2.5)), String(Math.round(-2.5)));
    return out;
  }

  it('gives the same numbers and strings inside a fiber as outside', () => {
    const outside = numericFingerprint();
    const inside = new Fiber(() => numericFingerprint()).run();
    assert.deepEqual(inside, outside);
  });

  it('keeps them right across many switches and nested fibers', () => {
    const outside = numericFingerprint();
    const f = new Fiber(() => {
      const results: string[][] = [];
      for (let i = 0; i < 5; i++) {
        results.push(numericFingerprint());
        results.push(new Fiber(() => numericFingerprint()).run() as string[]);
        Fiber.yield();
      }
      return results;
    });
    let r: unknown;
    while (!f.dead) r = f.run();
    for (const fp of r as string[][]) assert.deepEqual(fp, outside);
  });
});

describe('ERR_FIBER_THREAD', () => {
  it('refuses a fiber posted from another thread', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { Fiber } = require('stackful');
      try {
        new Fiber(() => 1, { parent: workerData });
        parentPort.postMessage('accepted');
      } catch (err) {
        parentPort.postMessage({ code: err.code, message: err.message });
      }`;
    const fiber = new Fiber(() => 1);
    const worker = new Worker(code, { eval: true, workerData: fiber });
    const answer = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal((answer as FiberError).code, 'ERR_FIBER_THREAD');
    assert.match((answer as FiberError).message, new RegExp(`fiber #${fiber.id} belongs to thread 0`));
  });
});
