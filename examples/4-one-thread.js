// Tutorial section 6 (and 3): "make the count 500000 so it runs longer, then
// look in the process manager: there is only one thread". Three greenlets
// take turns 500,000 times each, and the process's OS thread count is read
// from /proc/self/status before and while they run.
//
//   node examples/4-one-thread.js [count]      (default 500000)
//
// Node itself runs a few threads of its own from the start (V8's compiler
// and GC helpers, libuv's pool once used), so the count is not 1 as for
// CPython; what matters is that it does not grow: every greenlet runs on the
// one thread that runs your JavaScript, each on a stack of its own, and a
// switch between them is a function call's worth of work, not a thread
// switch by the OS.
'use strict';
const { readFileSync } = require('node:fs');
const { Greenlet, getcurrent, runInFiber, sleep, stats } = require('stackful');

const count = Number(process.argv[2] ?? 500_000);
if (!Number.isSafeInteger(count) || count < 1) {
  console.error(`usage: node examples/4-one-thread.js [count]: expected a positive integer, got ${process.argv[2]}`);
  process.exit(2);
}

function threads() {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
}

const before = threads();
let most = before;
const every = Math.max(1, Math.floor(count / 5));

function f(n) {
  const me = getcurrent();
  for (let i = 0; i < n; i++) {
    if (i % every === 0 || i === n - 1) {
      most = Math.max(most, threads());
      console.log(`<Greenlet "${me.name}" #${me.id}> ${i}   OS threads in this process: ${threads()}, fibers alive: ${stats().live}`);
    }
    sleep(0);
  }
}

console.log(`OS threads in this process before spawning: ${before}`);
runInFiber(() => {
  const gs = [1, 2, 3].map(() => {
    const g = new Greenlet(f, [count], { name: `f(${count})` });
    g.start();
    return g;
  });
  for (const g of gs) g.join();
  console.log(`3 greenlets took ${(3 * count).toLocaleString('en-US')} turns; OS threads before: ${before}, at most while they ran: ${most}`);
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
