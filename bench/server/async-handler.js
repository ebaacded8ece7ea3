'use strict';
// fiber-handler.js written with async/await: the upstream is called with
// Node's http.get() as a promise, on the same kind of keep-alive agent.
// Runs under plain node. Environment: PORT (0: any), UPSTREAM_URL.
const http = require('node:http');

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const UPSTREAM = `${process.env.UPSTREAM_URL}/data`;

function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        const pieces = [];
        res.on('data', (piece) => pieces.push(piece));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(pieces).toString()) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const server = http.createServer(async (req, res) => {
  try {
    const reply = await getJson(UPSTREAM);
    const text = JSON.stringify({ status: reply.status, upstream: reply.body });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
