// fetch() (whose HTTP parser is WebAssembly) in a loop while fibers are
// parked: V8's wasm code GC would abort the process the first time it ran
// with a fiber suspended. Usage: node wasm-code-gc.js [requests] [parked]
'use strict';
const http = require('node:http');
const { Fiber, stats } = require('stackful');

const REQUESTS = Number(process.argv[2] ?? 400);
const PARKED = Number(process.argv[3] ?? 10);

function parkDeep(depth) {
  return depth === 0 ? Fiber.yield() : parkDeep(depth - 1) + 1;
}
const parked = Array.from({ length: PARKED }, () => {
  const fiber = new Fiber(() => parkDeep(3));
  fiber.run();
  return fiber;
});

const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}/`;
  let ok = 0;
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(url);
    if ((await res.text()) === 'ok') ok++;
  }
  server.close();
  const results = parked.map((fiber) => fiber.run(0));
  console.log(JSON.stringify({ ok, results, live: stats().live }));
});
