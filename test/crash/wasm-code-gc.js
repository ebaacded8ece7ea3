// fetch() (whose HTTP parser is WebAssembly) in a loop while fibers are
// parked: V8's wasm code GC would abort the process the first time it ran
// with a fiber suspended. stackful turns it off when the first fiber is made;
// with [before] > 0, that many requests run before any fiber exists (wasm
// compiled, and partly tiered up, while the code GC was still on).
// Usage: node wasm-code-gc.js [requests] [parked] [before]
'use strict';
const http = require('node:http');
const { Fiber, stats } = require('stackful');

const REQUESTS = Number(process.argv[2] ?? 400);
const PARKED = Number(process.argv[3] ?? 10);
const BEFORE = Number(process.argv[4] ?? 0);

function parkDeep(depth) {
  return depth === 0 ? Fiber.yield() : parkDeep(depth - 1) + 1;
}

async function fetchAll(url, count) {
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const res = await fetch(url);
    if ((await res.text()) === 'ok') ok++;
  }
  return ok;
}

const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  const before = await fetchAll(url, BEFORE);
  const parked = Array.from({ length: PARKED }, () => {
    const fiber = new Fiber(() => parkDeep(3));
    fiber.run();
    return fiber;
  });
  const ok = await fetchAll(url, REQUESTS);
  server.close();
  const results = parked.map((fiber) => fiber.run(0));
  console.log(JSON.stringify({ before, ok, results, live: stats().live }));
});
