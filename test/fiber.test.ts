import assert from 'node:assert/strict';
import { Fiber, FiberError, FiberExit, getcurrent, listFibers, setTraceCreation, stats } from 'stackful';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  assert.fail('expected a throw');
}

describe('new Fiber()', () => {
  it('starts in state new, with an id and a name', () => {
    const f = new Fiber(() => 1, { name: 'worker' });
    assert.equal(f.state, 'new');
    assert.equal(f.started, false);
    assert.equal(f.dead, false);
    assert.equal(f.name, 'worker');
    assert.ok(Number.isInteger(f.id) && f.id > 0);
    assert.notEqual(new Fiber(() => 1).id, f.id);
  });

  it('defaults its parent to the fiber that creates it', () => {
    assert.equal(new Fiber(() => 1).parent, Fiber.root);
    const inner = new Fiber(() => new Fiber(() => 1).parent);
    assert.equal(inner.run(), inner);
  });

  it('rejects a non-function with ERR_INVALID_ARG_TYPE', () => {
    assert.throws(() => new Fiber(42 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /expected `fn` to be a function, got `42` \(number\)/ });
  });

  it('rejects bad options', () => {
    assert.throws(() => new Fiber(() => 1, null as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Fiber(() => 1, { name: 5 as never }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Fiber(() => 1, { parent: {} as never }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('rejects a bad stackSize with a TypeError or RangeError', () => {
    assert.throws(() => new Fiber(() => 1, { stackSize: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /got `-1` \(number\)/ });
    assert.throws(() => new Fiber(() => 1, { stackSize: 1.5 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Fiber(() => 1, { stackSize: '1mb' as never }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new Fiber(() => 1, { stackSize: 2 ** 40 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  });

  it('runs with a custom stackSize', () => {
    const f = new Fiber(() => {
      const depth = (n: number): number => (n === 0 ? 0 : 1 + depth(n - 1));
      return depth(1000);
    }, { stackSize: 512 * 1024 });
    assert.equal(f.run(), 1000);
  });
});

describe('Fiber#switch()', () => {
  it('starts fn with all the arguments of the first switch', () => {
    const f = new Fiber((a: number, b: number, c: number) => a + b + c);
    assert.equal(f.switch(1, 2, 3), 6);
    assert.equal(f.dead, true);
  });

  it('is a symmetric transfer: the pending switch returns the first argument', () => {
    const log: unknown[] = [];
    const root = getcurrent();
    const a = new Fiber((x: unknown) => {
      log.push(['a got', x]);
      const y = b.switch('from a');
      log.push(['a got', y]);
      return 'a done';
    });
    const b = new Fiber((x: unknown) => {
      log.push(['b got', x]);
      const y = root.switch('b to root');
      log.push(['b got', y]);
      a.switch('from b');
    });
    assert.equal(a.switch('start'), 'b to root');
    assert.equal(b.switch('resume b', 'ignored'), 'a done');
    assert.deepEqual(log, [['a got', 'start'], ['b got', 'from a'], ['b got', 'resume b'], ['a got', 'from b']]);
    assert.equal(a.dead, true);
    assert.equal(b.state, 'suspended');
    b.kill();
  });

  it('sends a finished fiber\'s value to its parent, not to the last switcher', () => {
    const parent = new Fiber(() => {
      const got = Fiber.yield('parent waiting');
      return ['parent got', got];
    });
    assert.equal(parent.run(), 'parent waiting');
    const child = new Fiber(() => 'child result', { parent });
    // The root switches to the child; the child's result goes to `parent`,
    // which returns to the root (its own parent).
    assert.deepEqual(child.switch(), ['parent got', 'child result']);
  });

  it('throws ERR_FIBER_DEAD when the target has finished', () => {
    const f = new Fiber(() => 1);
    f.switch();
    assert.throws(() => f.switch(), (err: FiberError) => {
      assert.ok(err instanceof FiberError);
      assert.equal(err.code, 'ERR_FIBER_DEAD');
      assert.match(err.message, new RegExp(`cannot switch to fiber #${f.id}: it has already finished`));
      assert.match(String(err.stack), /^FiberError \[ERR_FIBER_DEAD\]: /);
      return true;
    });
  });

  it('throws ERR_FIBER_RUNNING when the target is the running fiber', () => {
    assert.equal(codeOf(() => Fiber.current.switch()), 'ERR_FIBER_RUNNING');
    const f = new Fiber(() => codeOf(() => f.switch()));
    assert.equal(f.run(), 'ERR_FIBER_RUNNING');
  });
});

describe('Fiber#run() and Fiber.yield()', () => {
  it('pass values both ways, node-fibers style', () => {
    const f = new Fiber((first: number) => {
      let total = first;
      for (;;) {
        const next = Fiber.yield(total) as number | undefined;
        if (next === undefined) return `total ${total}`;
        total += next;
      }
    });
    assert.equal(f.run(1), 1);
    assert.equal(f.run(2), 3);
    assert.equal(f.run(3), 6);
    assert.equal(f.run(), 'total 6');
    assert.equal(f.state, 'dead');
  });

  it('makes the caller the parent', () => {
    const g = new Fiber(() => Fiber.yield('from g'));
    const f = new Fiber(() => g.run());
    assert.equal(f.run(), 'from g');
    assert.equal(g.parent, f);
    g.kill();
    f.kill();
  });

  it('runs a chain of 20,000 fibers each run() inside the previous one, and each result reaches its caller', () => {
    const live = stats().live;
    const nest = (depth: number): number => (depth === 0 ? 0 : (new Fiber(() => nest(depth - 1) + 1, { stackSize: 256 * 1024 }).run() as number));
    assert.equal(nest(20_000), 20_000);
    assert.equal(stats().live, live);
  });

  it('still refuses run() of a fiber the caller descends from through a parent given at creation', () => {
    // below's result then starts top, its parent, which hands its own to the root.
    const top = new Fiber((fromBelow) => `top ran with ${fromBelow}`);
    const below = new Fiber(() => codeOf(() => top.run()), { parent: top });
    assert.equal(below.switch(), 'top ran with ERR_FIBER_RUNNING');
  });

  it('refuses to run the running fiber or one waiting on it (ERR_FIBER_RUNNING)', () => {
    const outer = new Fiber(() => {
      const inner = new Fiber(() => codeOf(() => outer.run()));
      return [inner.run(), codeOf(() => outer.run())];
    });
    assert.deepEqual(outer.run(), ['ERR_FIBER_RUNNING', 'ERR_FIBER_RUNNING']);
  });

  it('Fiber.yield() on the root throws ERR_NOT_IN_FIBER', () => {
    assert.throws(() => Fiber.yield(1), { name: 'FiberError', code: 'ERR_NOT_IN_FIBER', message: /root fiber/ });
  });

  it('yield goes to the nearest live ancestor when the parent has finished', () => {
    let grandchild!: Fiber;
    const child = new Fiber(() => {
      grandchild = new Fiber(() => {
        Fiber.yield('first');
        return Fiber.yield('second');
      });
      return grandchild.run();
    });
    assert.equal(child.run(), 'first');
    // grandchild's parent is `child`, which is waiting in run(); resume grandchild
    // from the root: it yields to `child`, which then finishes with that value.
    assert.equal(grandchild.switch(), 'second');
    assert.equal(child.dead, true);
    // Now the parent is dead: yield reaches the root.
    assert.equal(grandchild.switch('last'), 'last');
    assert.equal(grandchild.dead, true);
  });
});

describe('Fiber#throw()', () => {
  it('raises the error at the suspension point', () => {
    const f = new Fiber(() => {
      try {
        Fiber.yield('waiting');
      } catch (err) {
        return `caught ${(err as Error).message}`;
      }
      return 'not thrown';
    });
    f.run();
    assert.equal(f.throw(new Error('stop')), 'caught stop');
  });

  it('without an argument throws FiberExit, a clean finish', () => {
    const f = new Fiber(() => {
      Fiber.yield();
      return 'unreachable';
    });
    f.run();
    assert.equal(f.throw(), undefined);
    assert.equal(f.dead, true);
  });

  it('an uncaught error propagates to the parent', () => {
    const f = new Fiber(() => Fiber.yield());
    f.run();
    assert.throws(() => f.throw(new TypeError('bad')), { name: 'TypeError', message: 'bad' });
    assert.equal(f.dead, true);
  });

  it('throw(undefined) raises undefined, not a FiberExit: only a missing argument defaults', () => {
    const f = new Fiber(() => {
      try {
        Fiber.yield();
      } catch (err) {
        return { caught: err, isExit: err instanceof FiberExit };
      }
      return 'not thrown';
    });
    f.run();
    assert.deepEqual(f.throw(undefined), { caught: undefined, isExit: false });
  });

  it('into a fiber that never started: it dies without running fn', () => {
    let ran = false;
    const f = new Fiber(() => {
      ran = true;
    });
    assert.throws(() => f.throw(new Error('early')), { message: 'early' });
    assert.equal(ran, false);
    assert.equal(f.dead, true);
  });

  it('on the running fiber throws directly', () => {
    const f = new Fiber(() => {
      try {
        Fiber.current.throw(new Error('self'));
      } catch (err) {
        return (err as Error).message;
      }
    });
    assert.equal(f.run(), 'self');
  });

  it('throws ERR_FIBER_DEAD on a finished fiber', () => {
    const f = new Fiber(() => 1);
    f.run();
    assert.equal(codeOf(() => f.throw(new Error('x'))), 'ERR_FIBER_DEAD');
  });
});

describe('Fiber#kill()', () => {
  it('runs finally blocks and returns once the fiber is dead', () => {
    const log: string[] = [];
    const f = new Fiber(() => {
      try {
        try {
          Fiber.yield();
        } finally {
          log.push('inner finally');
        }
      } finally {
        log.push('outer finally');
      }
    });
    f.run();
    assert.equal(f.kill(), undefined);
    assert.deepEqual(log, ['inner finally', 'outer finally']);
    assert.equal(f.state, 'dead');
  });

  it('returns to the killer even when another fiber is the parent', () => {
    const parent = new Fiber(() => Fiber.yield('p'));
    parent.run();
    const f = new Fiber(() => Fiber.yield(), { parent });
    f.switch();
    const killer = new Fiber(() => {
      f.kill();
      return 'killer resumed';
    });
    assert.equal(killer.run(), 'killer resumed');
    assert.equal(f.dead, true);
    parent.kill();
  });

  it('marks a fiber that never started as dead without running it', () => {
    let ran = false;
    const f = new Fiber(() => {
      ran = true;
    });
    f.kill();
    assert.equal(f.dead, true);
    assert.equal(ran, false);
    assert.equal(codeOf(() => f.run()), 'ERR_FIBER_DEAD');
  });

  it('is a no-op on a dead fiber', () => {
    const f = new Fiber(() => 1);
    f.run();
    f.kill();
    assert.equal(f.dead, true);
  });

  it('on the running fiber unwinds it cleanly', () => {
    const log: string[] = [];
    const f = new Fiber(() => {
      try {
        Fiber.current.kill();
        log.push('not reached');
      } finally {
        log.push('finally');
      }
    });
    assert.equal(f.run(), undefined);
    assert.deepEqual(log, ['finally']);
    assert.equal(f.dead, true);
  });

  it('throws ERR_FIBER_NOT_DEAD when the fiber swallows FiberExit and yields', () => {
    const f = new Fiber(() => {
      for (;;) {
        try {
          Fiber.yield();
        } catch {
          /* refuses to die */
        }
      }
    });
    f.run();
    assert.equal(codeOf(() => f.kill()), 'ERR_FIBER_NOT_DEAD');
    assert.equal(f.state, 'suspended');
  });

  it('refuses to kill the root fiber', () => {
    assert.equal(codeOf(() => Fiber.root.kill()), 'ERR_FIBER_ROOT');
  });

  it('FiberExit carries a value to the parent', () => {
    const f = new Fiber(() => {
      Fiber.yield();
    });
    f.run();
    assert.equal(f.throw(new FiberExit('bye')), 'bye');
  });
});

describe('Fiber.current, getcurrent() and the root fiber', () => {
  it('is the root on the main stack', () => {
    assert.equal(Fiber.current, Fiber.root);
    assert.equal(getcurrent(), Fiber.root);
    assert.equal(Fiber.root.state, 'running');
    assert.equal(Fiber.root.parent, null);
    assert.equal(Fiber.root.id, 0);
  });

  it('is the fiber inside it, and states follow', () => {
    const f = new Fiber(() => [Fiber.current === f, f.state, Fiber.root.state]);
    assert.deepEqual(f.run(), [true, 'running', 'suspended']);
    assert.equal(Fiber.root.state, 'running');
  });
});

describe('methods called on something that is not a Fiber', () => {
  it('throw ERR_INVALID_ARG_TYPE naming `this`, for every method', () => {
    for (const [method, receiver] of [['switch', {}], ['run', 1], ['throw', null], ['kill', null], ['kill', Object.create(Fiber.prototype)]] as const) {
      const err = (() => {
        try {
          (Fiber.prototype[method] as (this: unknown) => unknown).call(receiver);
        } catch (e) {
          return e as { code?: string; message: string };
        }
        return undefined;
      })();
      assert.equal(err?.code, 'ERR_INVALID_ARG_TYPE', `${method}: ${err?.message}`);
      assert.match(err!.message, /`this`/);
    }
    const parentSetter = Object.getOwnPropertyDescriptor(Fiber.prototype, 'parent')!.set!;
    assert.equal(codeOf(() => parentSetter.call({}, Fiber.root)), 'ERR_INVALID_ARG_TYPE');
  });
});

describe('Fiber#parent', () => {
  it('can be changed', () => {
    const a = new Fiber(() => Fiber.yield('a'));
    const b = new Fiber(() => 'b result');
    a.run();
    b.parent = a;
    assert.equal(b.parent, a);
    // b's result goes to a, whose yield returns it, and a returns it to the root.
    assert.equal(b.switch(), 'b result');
    assert.equal(a.dead, true);
  });

  it('refuses a cycle with ERR_FIBER_CYCLE', () => {
    const a = new Fiber(() => 1);
    const b = new Fiber(() => 1, { parent: a });
    assert.equal(codeOf(() => {
      a.parent = b;
    }), 'ERR_FIBER_CYCLE');
    assert.equal(codeOf(() => {
      a.parent = a;
    }), 'ERR_FIBER_CYCLE');
    assert.throws(() => {
      a.parent = 'x' as never;
    }, { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('refuses to give the root a parent', () => {
    assert.equal(codeOf(() => {
      Fiber.root.parent = new Fiber(() => 1);
    }), 'ERR_FIBER_ROOT');
  });
});

describe('stats() and listFibers()', () => {
  it('count created, live and suspended fibers and stack bytes', () => {
    const before = stats();
    const fibers = Array.from({ length: 5 }, () => new Fiber(() => Fiber.yield()));
    for (const f of fibers) f.run();
    const during = stats();
    assert.equal(during.created - before.created, 5);
    assert.equal(during.live - before.live, 5);
    assert.equal(during.suspended - before.suspended, 5);
    assert.ok(during.stackBytesReserved >= 5 * 1024 * 1024);
    for (const f of fibers) f.kill();
    const after = stats();
    assert.equal(after.live, before.live);
    assert.equal(after.finished - before.finished, 5);
    assert.ok(after.stackBytesPooled > 0);
  });

  it('lists live fibers with where they were created', () => {
    setTraceCreation(true);
    let f: Fiber;
    try {
      f = new Fiber(() => Fiber.yield(), { name: 'listed' });
    } finally {
      setTraceCreation(false);
    }
    f.run();
    const untraced = new Fiber(() => Fiber.yield());
    untraced.run();
    const entry = listFibers().find((i) => i.id === f.id)!;
    assert.deepEqual({ name: entry.name, state: entry.state }, { name: 'listed', state: 'suspended' });
    assert.match(entry.createdAt!, /fiber\.test\.ts/);
    assert.equal(listFibers().find((i) => i.id === untraced.id)!.createdAt, undefined);
    f.kill();
    untraced.kill();
    assert.equal(listFibers().some((i) => i.id === f.id), false);
  });
});
