// Tutorial section 6: gevent's spawn() and join(). Three greenlets each run
// f(5); first as written (they run one after another), then with sleep(0) in
// the loop (they take turns).
//
//   node examples/3-spawn-join.js
//
// A greenlet runs until it waits for something. f() without sleep(0) never
// waits, so each one runs to its end before the next starts. sleep(0) waits
// for nothing but lets every other ready greenlet run once first, so the three
// interleave. stackful's hub resumes ready greenlets in the order they became
// ready, so the turns come round in a fixed order (gevent's may vary).
'use strict';
const { Greenlet, getcurrent, runInFiber, sleep } = require('stackful');

// gevent prints a greenlet as <Greenlet at 0x10e49f550: f(5)>; here, its name
// and the number of the fiber it runs on.
function current() {
  const me = getcurrent();
  return `<Greenlet "${me.name}" #${me.id}>`;
}

function f(n) {
  for (let i = 0; i < n; i++) console.log(current(), i);
}

function fWithSleep(n) {
  for (let i = 0; i < n; i++) {
    console.log(current(), i);
    sleep(0);
  }
}

// spawn(fn, ...args) names a greenlet after its function; these are named as
// the tutorial shows them, "f(5)".
function spawnNamed(fn, n) {
  const g = new Greenlet(fn, [n], { name: `f(${n})` });
  g.start();
  return g;
}

runInFiber(() => {
  console.log('f(5) as written: one after another');
  let [g1, g2, g3] = [spawnNamed(f, 5), spawnNamed(f, 5), spawnNamed(f, 5)];
  g1.join();
  g2.join();
  g3.join();

  console.log('with sleep(0) in the loop: taking turns');
  [g1, g2, g3] = [spawnNamed(fWithSleep, 5), spawnNamed(fWithSleep, 5), spawnNamed(fWithSleep, 5)];
  g1.join();
  g2.join();
  g3.join();
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
