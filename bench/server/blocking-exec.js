'use strict';
// An unchanged blocking app whose handler calls the upstream by running curl
// with execSync: one small process per request, lighter than sync-request's
// (which starts `node` for every call where `nc` is not installed).
// bench/cases/server.ts serves it with `stackful serve` and with plain node.
// Environment: PORT (0: any), UPSTREAM_URL.
const http = require('node:http');
const { execSync } = require('node:child_process');

const UPSTREAM = `${process.env.UPSTREAM_URL}/data`;

const server = http.createServer((req, res) => {
  const upstream = JSON.parse(execSync(`curl -sf ${UPSTREAM}`, { encoding: 'utf8' }));
  const text = JSON.stringify({ status: 200, upstream });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
