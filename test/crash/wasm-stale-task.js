// A wasm code GC that started before the first fiber was made must not abort
// the process once fibers are suspended. V8 asks the isolate for its report
// by an interrupt and by a queued task; the interrupt (at the next call)
// finishes the GC, and the task, still queued, used to run at the next turn
// of the event loop with fibers suspended: "archived threads in combination
// with wasm not supported". Run with --allow-natives-syntax (to see the
// tier-up) and --stress-wasm-code-gc (every piece of code that tiering
// replaces starts a code GC at once).
// Usage: node --allow-natives-syntax --stress-wasm-code-gc wasm-stale-task.js [parked]
'use strict';
const { Fiber, stats } = require('stackful');

const PARKED = Number(process.argv[2] ?? 3);

// (module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))
const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32) -> i32
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export it as "f"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x0b, // its body
]);
const f = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f;

// Call f until TurboFan's code replaces Liftoff's, bounded in time, and on
// for a while: the compiler thread gives up the replaced code (which starts
// the code GC) a little after the new code is in place, a while longer under
// an emulator. Then, in the same turn, make and suspend fibers, before the
// event loop runs the GC's queued task.
let n = 0;
let tieredUp = false;
const deadline = Date.now() + 60_000;
while (!tieredUp && Date.now() < deadline) {
  for (let i = 0; i < 1000; i++) n = f(n);
  tieredUp = %IsTurboFanFunction(f);
}
const settled = Date.now() + 1000;
while (Date.now() < settled) {
  for (let i = 0; i < 1000; i++) n = f(n);
}
const parked = Array.from({ length: PARKED }, (_, i) => {
  const fiber = new Fiber(() => Fiber.yield() + i);
  fiber.run();
  return fiber;
});
setTimeout(() => {
  const results = parked.map((fiber) => fiber.run(1));
  console.log(JSON.stringify({ tieredUp, calls: n > 0, results, live: stats().live }));
}, 50);
