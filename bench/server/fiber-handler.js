'use strict';
// A blocking-style handler: calls the upstream with stackful/http's get(),
// which parks only the request's fiber. bench/cases/server.ts serves it with
// `stackful serve` (a fiber per request); async-handler.js is its twin.
// Environment: PORT (0: any), UPSTREAM_URL.
const http = require('node:http');
const { get } = require('stackful/http');

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const UPSTREAM = `${process.env.UPSTREAM_URL}/data`;

const server = http.createServer((req, res) => {
  const reply = get(UPSTREAM, { agent });
  const text = JSON.stringify({ status: reply.status, upstream: reply.json() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
