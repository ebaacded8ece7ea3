// JS and native fiber state must agree whatever user code throws at the
// moment a fiber finishes (issue #15, item 7). Each case prints one JSON line:
// what the root received, the fibers' states, and both sides' live counts.
//
//   node desync.js <case>
// `no-stack` runs under `ulimit -v $LIMIT_KB`: fibers are started until the
// address space left cannot hold a 1 GiB stack, then a fiber whose parent
// (with a 1 GiB stack) has not started yet finishes.
'use strict';
const { Fiber, FiberExit, listFibers, stats } = require('stackful');

function outcome(fn) {
  try {
    return { returned: fn() };
  } catch (err) {
    if (err === null || typeof err !== 'object') return { threw: err };
    const out = { threw: err.code ?? err.name ?? 'object', message: err.message };
    if ('value' in err && err.code) out.value = err.value;
    if (err.cause !== undefined) out.cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
    return out;
  }
}

function agree() {
  return { jsLive: listFibers().length, nativeLive: stats().live };
}

const cases = {
  'exit-getter'() {
    const f = new Fiber(() => {
      const exit = new FiberExit('never read');
      Object.defineProperty(exit, 'value', { get() { throw new Error('value getter'); } });
      throw exit;
    });
    return { got: outcome(() => f.run()), state: f.state, ...agree() };
  },
  'proxy'() {
    const thrown = new Proxy({}, { getPrototypeOf() { throw new Error('trap'); } });
    const f = new Fiber(() => { throw thrown; });
    let same = false;
    try { f.run(); } catch (err) { same = err === thrown; }
    return { sameObject: same, state: f.state, ...agree() };
  },
  'fake-parent'() {
    const f = new Fiber(() => Fiber.yield());
    const option = outcome(() => new Fiber(() => 1, { parent: Object.create(Fiber.prototype) }));
    const setter = outcome(() => { f.parent = Object.create(Fiber.prototype); });
    f.run();
    const back = f.run('done');
    return { option: option.threw, setter: setter.threw, back, state: f.state, ...agree() };
  },
  'has-instance'() {
    Object.defineProperty(FiberExit, Symbol.hasInstance, { value: () => true });
    Object.defineProperty(Fiber, Symbol.hasInstance, { value: () => true });
    const f = new Fiber(() => { throw new Error('a real failure'); });
    const got = outcome(() => f.run());
    const fake = outcome(() => { new Fiber(() => 1).parent = {}; });
    return { got, fake: fake.threw, state: f.state, ...agree() };
  },
  'no-stack'() {
    // Kids with 256 MiB stacks fill the address space until less than the
    // 1 GiB that p's stack needs is left (but more than 750 MiB, for V8).
    const limitKb = Number(process.env.LIMIT_KB);
    const headroom = () => limitKb * 1024 - Number(/VmSize:\s+(\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const p = new Fiber((v) => `p started with ${v}`, { name: 'p', stackSize: 1024 * 1024 * 1024 });
    const kids = [];
    const c = new Fiber(() => {
      for (let i = 0; i < 10000 && headroom() >= 1024 * 1024 * 1024; i++) {
        const k = new Fiber(() => `kid ${i}: ${Fiber.yield('parked')}`, { stackSize: 256 * 1024 * 1024 });
        try { k.run(); } catch (err) {
          if (err.code !== 'ERR_FIBER_STACK') throw err;
          break;
        }
        kids.push(k);
      }
      return 'c result';
    }, { name: 'c', parent: p });
    const got = outcome(() => c.switch());
    const middle = { p: p.state, c: c.state, ...agree() };
    const kidResults = kids.map((k) => outcome(() => k.run('resumed')).returned);
    const kidsOk = kids.length > 0 && kidResults.every((r, i) => r === `kid ${i}: resumed`);
    // With the kids gone there is room again: p can start now.
    const later = outcome(() => p.run('later'));
    return { got, kids: kids.length > 0, kidsOk, middle, later, ...agree() };
  },
};

const name = process.argv[2];
if (!(name in cases)) throw new Error(`unknown case ${name}`);
console.log(JSON.stringify(cases[name]()));
