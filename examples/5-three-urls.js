// Tutorial section 6, last example: IO switches automatically. Fetch three
// URLs "at once" with blocking-style code: each fiber sends its
// request and waits for the answer as if nothing else existed, and the three
// waits overlap, because a fiber that waits only parks itself.
//
//   npm run build && node examples/5-three-urls.js
//
// The URLs are three local servers that answer after 300, 100 and 200 ms, so
// the example needs no network; the results print in the order they complete.
'use strict';
const http = require('node:http');
const { joinAll, runInFiber, spawn } = require('stackful');
const { get } = require('stackful/http');

const DELAYS = [300, 100, 200];

// How many requests the servers are answering at the same moment, and the most at once.
let inFlight = 0;
let maxInFlight = 0;

function startServer(delay) {
  const server = http.createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      res.end(`answered after ${delay} ms`);
    }, delay);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let started;

// Plain blocking code: get() and text() park this fiber until the data is there.
function f(url) {
  const res = get(url);
  const body = res.text();
  console.log(`${url} ${res.status} "${body}" (${Date.now() - started} ms after the start)`);
  return body;
}

async function main() {
  const servers = await Promise.all(DELAYS.map(startServer));
  const [url1, url2, url3] = servers.map((server) => `http://127.0.0.1:${server.address().port}/`);
  try {
    // runInFiber: the top level runs on the event loop's own stack, which must never block.
    await runInFiber(() => {
      started = Date.now();
      joinAll([spawn(f, url1), spawn(f, url2), spawn(f, url3)], { raiseError: true });
      const total = DELAYS.reduce((a, b) => a + b, 0);
      console.log(`3 requests, at most ${maxInFlight} in flight at once, ${Date.now() - started} ms in all (one after another: at least ${total} ms)`);
    });
  } finally {
    for (const server of servers) server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
