// 1,000 fibers switching in a seeded random order while allocating, mutating
// shared objects and forcing minor and major GCs; every value is checked each
// time a fiber resumes. Usage: node --expose-gc torture.js [seconds] [fibers] [seed]
'use strict';
const { Fiber, stats } = require('stackful');

const SECONDS = Number(process.argv[2] ?? 10);
const FIBERS = Number(process.argv[3] ?? 1000);
let seed = Number(process.argv[4] ?? 20261126) >>> 0 || 1;
function random(n) {
  // xorshift32: deterministic for a given seed
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

const shared = { counters: new Int32Array(FIBERS), log: new Map(), total: 0 };
const fibers = [];
let checks = 0;

function body(id) {
  // Locals of several kinds, at several depths, that only this fiber holds.
  const own = { id, items: [], text: `fiber-${id}`, nested: { deep: [id, { again: id * 2 }] } };
  let round = 0;
  function level(depth) {
    const local = [depth, `d${depth}-${id}`, new Float64Array([id, depth, id * depth])];
    if (depth > 0) {
      level(depth - 1);
    } else {
      for (;;) {
        round++;
        own.items.push({ round, payload: 'x'.repeat(round % 17) });
        if (own.items.length > 50) own.items.splice(0, 25);
        shared.counters[id]++;
        shared.total++;
        shared.log.set(id, round);
        const next = Fiber.yield(round);
        checks++;
        if (next === 'stop') return;
        // Everything this fiber holds must be intact after every resume.
        if (own.id !== id || own.text !== `fiber-${id}` || own.nested.deep[0] !== id || own.nested.deep[1].again !== id * 2) {
          throw new Error(`fiber ${id}: its object was corrupted`);
        }
        const last = own.items[own.items.length - 1];
        if (last.round !== round || last.payload.length !== round % 17) throw new Error(`fiber ${id}: items corrupted`);
        if (shared.counters[id] !== round || shared.log.get(id) !== round) throw new Error(`fiber ${id}: shared state corrupted`);
      }
    }
    if (local[0] !== depth || local[1] !== `d${depth}-${id}` || local[2][2] !== id * depth) {
      throw new Error(`fiber ${id}: frame at depth ${depth} was corrupted`);
    }
  }
  level(id % 20);
  return `done ${id} after ${round}`;
}

for (let id = 0; id < FIBERS; id++) {
  const f = new Fiber(body);
  if (f.run(id) !== 1) throw new Error('bad start');
  fibers.push(f);
}

const deadline = Date.now() + SECONDS * 1000;
let switches = 0;
let minor = 0;
let major = 0;
while (Date.now() < deadline) {
  for (let k = 0; k < 1000; k++) {
    const id = random(FIBERS);
    const f = fibers[id];
    const expected = shared.counters[id] + 1;
    const got = f.run('go');
    if (got !== expected) throw new Error(`fiber ${id} yielded ${got}, expected ${expected}`);
    switches++;
    // Garbage from the root too, and fibers resumed from nested fibers.
    if (random(50) === 0) {
      const other = fibers[random(FIBERS)];
      if (other !== f) {
        const viaNested = new Fiber(() => other.run('go'));
        const r = viaNested.run();
        if (r !== shared.counters[fibers.indexOf(other)]) throw new Error('nested resume went wrong');
        switches++;
      }
    }
  }
  if (random(3) === 0) {
    globalThis.gc({ type: 'minor' });
    minor++;
  }
  if (random(10) === 0) {
    globalThis.gc();
    major++;
  }
}

let finished = 0;
for (let id = 0; id < FIBERS; id++) {
  const result = fibers[id].run('stop');
  if (result !== `done ${id} after ${shared.counters[id]}`) throw new Error(`fiber ${id} finished with ${result}`);
  finished++;
}
const s = stats();
console.log(JSON.stringify({ finished, switches, checks, minor, major, live: s.live, youngGc: s.youngGc, switching: s.switching }));
