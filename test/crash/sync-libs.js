// Real, unmodified npm libraries that block the thread, made green by the IO
// hooks: 5 fibers each make one request to a local upstream, which counts how
// many requests it holds at once. Run with --require stackful/register.
// Usage: sync-libs.js <sync-request|synckit|alive>
//   sync-request  blocks in spawnSync (through sync-rpc)
//   synckit       blocks in Atomics.wait until its worker thread answers
//   alive         a fiber waits in Atomics.wait with nothing else on the loop
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { joinAll, runInFiber, spawn } = require('stackful');

const mode = process.argv[2];
const FIBERS = 5;

if (mode === 'alive') {
  // Nothing keeps the event loop alive but the waiting fiber: a blocked
  // thread would wait its 200 ms and go on, and so must the fiber.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  runInFiber(() => Atomics.wait(cell, 0, 0, 200)).then((result) => console.log(JSON.stringify({ result })));
  return;
}

/**
 * The upstream holds each request until FIBERS are in flight at once, then
 * answers them all; a request alone gets its answer after 10 s at most (the
 * run is then reported with most < FIBERS instead of hanging).
 */
let inFlight = 0;
let most = 0;
const held = [];
const server = http.createServer((req, res) => {
  inFlight++;
  most = Math.max(most, inFlight);
  const answer = () => {
    clearTimeout(timer);
    inFlight--;
    res.end(`reply to ${req.url}`);
  };
  const timer = setTimeout(() => held.splice(held.indexOf(answer), 1) && answer(), 10_000);
  held.push(answer);
  if (held.length >= FIBERS) held.splice(0).forEach((a) => a());
});

server.listen(0, '127.0.0.1', () => {
  const url = (i) => `http://127.0.0.1:${server.address().port}/${i}`;
  let get;
  if (mode === 'sync-request') {
    const request = require('sync-request'); // starts sync-rpc's server, blocking, on the root
    get = (i) => request('GET', url(i)).getBody('utf8');
  } else if (mode === 'synckit') {
    // One synckit function serves one call at a time (it matches answers to
    // calls by order), so each fiber has its own worker, as separate modules would.
    const { createSyncFn } = require('synckit');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-synckit-'));
    const source = `const { runAsWorker } = require(${JSON.stringify(require.resolve('synckit'))});
const http = require('node:http');
runAsWorker((url) => new Promise((resolve, reject) => {
  http.get(url, (res) => { let body = ''; res.setEncoding('utf8'); res.on('data', (c) => (body += c)); res.on('end', () => resolve(body)); }).on('error', reject);
}));
`;
    const fns = Array.from({ length: FIBERS }, (_, i) => {
      const file = path.join(dir, `worker-${i}.js`);
      fs.writeFileSync(file, source);
      return createSyncFn(file, { execArgv: [], timeout: 15_000 });
    });
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    get = (i) => fns[i](url(i));
  }
  runInFiber(() => {
    const fibers = Array.from({ length: FIBERS }, (_, i) => spawn(() => get(i)));
    joinAll(fibers, { raiseError: true });
    return fibers.map((g) => g.value);
  }).then(
    (replies) => {
      console.log(JSON.stringify({ most, replies }));
      server.close();
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
});
