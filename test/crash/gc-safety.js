// Objects referenced only from suspended fibers' frames survive many forced
// GCs, full and minor, and are intact when the fibers resume.
// Usage: node --expose-gc gc-safety.js [fibers] [depth]
'use strict';
const { Fiber } = require('stackful');

const FIBERS = Number(process.argv[2] ?? 2000);
const DEPTH = Number(process.argv[3] ?? 32);

function expected(id, level) {
  return `fiber ${id} level ${level} ${'x'.repeat(level % 7)}`;
}

// Each level keeps its own objects in locals only, then recurses; at the
// bottom the fiber suspends. On the way back every level checks its objects.
function hold(id, level) {
  const array = [id, level, { nested: [level, id] }];
  const map = new Map([[id, level], ['s', expected(id, level)]]);
  const str = expected(id, level);
  const typed = new Float64Array([id + 0.5, level + 0.25]);
  const big = new Uint8Array(1024).fill(level & 0xff);
  const closure = () => id * 1000 + level;
  const symbolKeyed = { [Symbol.for('k')]: level };
  let result;
  if (level > 0) {
    result = hold(id, level - 1);
  } else {
    result = 0;
    const rounds = Fiber.yield('parked');
    for (let r = 0; r < rounds; r++) {
      // Allocate while other fibers are parked, and yield again mid-way.
      const garbage = [];
      for (let i = 0; i < 200; i++) garbage.push({ i, s: `g${i}` });
      if (r === 0 && id % 50 === 0) globalThis.gc({ type: 'minor' });
      Fiber.yield('again');
    }
  }
  const ok =
    array[0] === id && array[1] === level && array[2].nested[0] === level && array[2].nested[1] === id &&
    map.get(id) === level && map.get('s') === expected(id, level) &&
    str === expected(id, level) &&
    typed[0] === id + 0.5 && typed[1] === level + 0.25 &&
    big.length === 1024 && big[0] === (level & 0xff) && big[1023] === (level & 0xff) &&
    closure() === id * 1000 + level &&
    symbolKeyed[Symbol.for('k')] === level;
  if (!ok) throw new Error(`fiber ${id}: objects at level ${level} were corrupted`);
  return result + 1;
}

const fibers = [];
for (let id = 0; id < FIBERS; id++) {
  const f = new Fiber(() => hold(id, DEPTH));
  if (f.run() !== 'parked') throw new Error('fiber did not park');
  fibers.push(f);
}

// Force GCs with everything parked, with fresh garbage in between so that the
// scavenger really moves things.
for (let i = 0; i < 10; i++) {
  let junk = [];
  for (let j = 0; j < 20000; j++) junk.push({ j, s: String(j) });
  junk = null;
  globalThis.gc({ type: 'minor' });
  globalThis.gc();
}

// Resume every fiber for two rounds (each allocates and runs minor GCs while
// the rest stay parked), with full GCs from inside fibers too.
const ROUNDS = 2;
for (const f of fibers) if (f.run(ROUNDS) !== 'again') throw new Error('expected again');
const gcFiber = new Fiber(() => {
  for (let i = 0; i < 5; i++) {
    globalThis.gc();
    Fiber.yield();
  }
});
while (!gcFiber.dead) gcFiber.run();

let checked = 0;
for (const f of fibers) {
  let result = f.run();
  while (result === 'again') result = f.run();
  if (result !== DEPTH + 1) throw new Error(`fiber returned ${result}`);
  checked++;
}
console.log(JSON.stringify({ checked, depth: DEPTH }));
