'use strict';
// A CPU-bound route: every request spins through ITERATIONS steps of a
// xorshift generator (about 2 ms of CPU per request on a 2 GHz-class core) and answers the
// result. bench/cases/server.ts serves it with `stackful serve --workers 1`
// and `--workers 2`. Environment: PORT (0: any), ITERATIONS.
const http = require('node:http');

const ITERATIONS = Number(process.env.ITERATIONS ?? 1_000_000);

function spin(seed) {
  let x = seed | 0 || 1;
  for (let i = 0; i < ITERATIONS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x >>> 0;
}

const server = http.createServer((req, res) => {
  res.end(String(spin(0x9e3779b9)));
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
