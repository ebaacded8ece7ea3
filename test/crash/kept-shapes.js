// A full GC at a moment when no fiber is alive must not throw away the
// hub's optimized code: every fiber parked in that code would then leave it
// through a deoptimization of its own (src/hub/hub.ts, keptShapes). Rounds of
// 1,000 greenlets taking turns with sleep(0) warm the code up; then three
// more rounds run, each after a gc() with none alive. Run with --trace-deopt: V8 prints
// each deoptimization on stdout, and "measured" marks where those start.
// Usage: node --expose-gc --trace-deopt kept-shapes.js
'use strict';
const { joinAll, runInFiber, sleep, spawn } = require('stackful');

const GREENLETS = 1000;
const TURNS = 100;
function round() {
  return runInFiber(() => {
    let turns = 0;
    const body = () => {
      for (let i = 0; i < TURNS; i++) {
        sleep(0);
        turns++;
      }
    };
    joinAll(Array.from({ length: GREENLETS }, () => spawn(body)), { raiseError: true });
    return turns;
  });
}

(async () => {
  for (let i = 0; i < 10; i++) await round();
  console.log('measured');
  let turns = 0;
  for (let i = 0; i < 3; i++) {
    gc();
    turns += await round();
  }
  console.log(JSON.stringify({ turns }));
})();
