'use strict';
// A stand-in for the service the example app calls: answers every request
// after a delay (20 ms by default) with a small JSON document, and counts how
// many requests it holds at once (GET /stats), which shows whether the app's
// calls overlapped. Listens on 127.0.0.1 only.
//
//   node examples/server/upstream.js [--port 3001] [--delay 20] [--gather N]
//
// --gather N holds each request until N are in flight at once (at most 10 s),
// then waits the delay: the test uses it to prove that N calls were made
// concurrently without measuring any time.
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.UPSTREAM_PORT ?? '3001' },
    delay: { type: 'string', default: '20' },
    gather: { type: 'string', default: '0' },
  },
});
const delay = Number(values.delay);
const gather = Number(values.gather);
const GATHER_LIMIT_MS = 10_000;

let inFlight = 0;
let mostInFlight = 0;
let requests = 0;
const gathering = new Set();

function answer(req, res) {
  setTimeout(() => {
    inFlight--;
    const body = JSON.stringify({ service: 'upstream', path: req.url, delay });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, delay);
}

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ requests, inFlight, mostInFlight }));
    return;
  }
  requests++;
  inFlight++;
  if (inFlight > mostInFlight) mostInFlight = inFlight;
  if (gather > 0 && mostInFlight < gather) {
    const waiting = { req, res, timer: setTimeout(() => release(), GATHER_LIMIT_MS) };
    gathering.add(waiting);
    return;
  }
  release();
  answer(req, res);
});

/** Lets every held request go on (once N are in flight, or when one has waited too long). */
function release() {
  for (const waiting of gathering) {
    clearTimeout(waiting.timer);
    answer(waiting.req, waiting.res);
  }
  gathering.clear();
}

server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`upstream listening on http://127.0.0.1:${server.address().port} (answers after ${delay} ms)`);
});
