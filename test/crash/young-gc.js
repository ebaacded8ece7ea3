// Scavenges leave out fibers parked through three of them (their frames can
// hold no young object any more): this proves that what such fibers hold
// survives, intact, many later scavenges, full GCs, and fibers that wake up,
// allocate and park again in between.
// Usage: node --expose-gc young-gc.js [fibers] [depth]
'use strict';
const { Fiber, stats } = require('stackful');

const FIBERS = Number(process.argv[2] ?? 3000);
const DEPTH = Number(process.argv[3] ?? 20);

function expected(id, level, round) {
  return `fiber ${id} level ${level} round ${round}`;
}

// Every level allocates fresh (young) objects held only by its locals, then
// parks at the bottom; each wake-up allocates fresh ones again before parking.
function hold(id, level) {
  const here = { id, level, list: [id, level, { back: level }], text: expected(id, level, 0) };
  const typed = new Float64Array([id + 0.5, level]);
  let rounds = 0;
  if (level > 0) {
    rounds = hold(id, level - 1);
  } else {
    for (let command = Fiber.yield('parked'); command !== 'finish'; command = Fiber.yield('parked')) {
      rounds++;
      const fresh = { rounds, text: expected(id, level, rounds), array: new Array(8).fill(rounds) };
      here.list.push(fresh); // an old object now points at a young one
      const command2 = Fiber.yield('parked');
      if (fresh.text !== expected(id, level, rounds) || fresh.array[7] !== rounds || command2 === 'finish') {
        if (command2 === 'finish') return check(id, level, here, typed, rounds);
        throw new Error(`fiber ${id}: a fresh object was corrupted`);
      }
    }
  }
  return check(id, level, here, typed, rounds);
}

function check(id, level, here, typed, rounds) {
  const ok =
    here.id === id && here.level === level && here.list[0] === id && here.list[2].back === level &&
    here.text === expected(id, level, 0) && typed[0] === id + 0.5 && typed[1] === level &&
    (level > 0 || here.list.length === 3 + rounds);
  if (!ok) throw new Error(`fiber ${id}: objects at level ${level} were corrupted`);
  for (let r = 1; level === 0 && r <= rounds; r++) {
    const fresh = here.list[2 + r];
    if (fresh.rounds !== r || fresh.text !== expected(id, level, r) || fresh.array[0] !== r) {
      throw new Error(`fiber ${id}: object of round ${r} was corrupted`);
    }
  }
  return rounds;
}

function churn() {
  let junk = [];
  for (let j = 0; j < 20000; j++) junk.push({ j, s: `junk ${j}` });
  junk = null;
}

const fibers = [];
for (let id = 0; id < FIBERS; id++) {
  const f = new Fiber(() => hold(id, DEPTH));
  if (f.run() !== 'parked') throw new Error('fiber did not park');
  fibers.push(f);
}

let seed = 20261126;
const random = (n) => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed % n;
};

// Scavenges only at first, so nothing is promoted by a full GC: the objects the
// fibers hold are young when the first scavenges see them.
for (let i = 0; i < 20; i++) {
  churn();
  globalThis.gc({ type: 'minor' });
}
const skippingBefore = stats().youngGc.skipping;

// Then some fibers wake, allocate and park again (young objects once more)
// while scavenges keep skipping the rest, with a full GC now and then.
const woken = new Array(FIBERS).fill(0);
for (let i = 0; i < 60; i++) {
  for (let k = 0; k < 50; k++) {
    const id = random(FIBERS);
    if (fibers[id].run('again') !== 'parked') throw new Error('expected parked');
    woken[id]++;
  }
  churn();
  globalThis.gc({ type: 'minor' });
  if (i % 20 === 19) globalThis.gc();
}

const young = stats().youngGc;
let checked = 0;
fibers.forEach((f, id) => {
  // A fiber parked mid-round (odd number of wake-ups) takes one more to finish it.
  const result = f.run('finish');
  if (result !== Math.ceil(woken[id] / 2)) throw new Error(`fiber ${id} finished with ${result}, expected ${Math.ceil(woken[id] / 2)}`);
  if (!f.dead) throw new Error(`fiber ${id} did not finish`);
  checked++;
});
console.log(JSON.stringify({ checked, path: young.path, skippingBefore, skipping: young.skipping, scavenges: young.scavenges }));
