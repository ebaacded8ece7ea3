'use strict';
// An Express 5 app written in plain blocking style, as if threads were free:
// every route calls a *Sync function and waits. It knows nothing of stackful.
//
//   node examples/server/app.js                 one request at a time: each blocks the process
//   npx stackful serve examples/server/app.js   the same file, one fiber per request: they overlap
//
// Routes (async.js has the same ones written with async/await):
//   GET /?name=World       renders views/index.html, read with fs.readFileSync
//   GET /hash?password=... hashes with crypto.scryptSync
//   GET /upstream          calls the upstream service with sync-request
//   GET /exec              runs a child process with execSync
// Environment: PORT (default 3000; 0 for any free port), HOST (default
// 127.0.0.1), UPSTREAM_URL (default http://127.0.0.1:3001, see upstream.js).
const crypto = require('node:crypto');
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const request = require('sync-request');

const UPSTREAM_URL = process.env.UPSTREAM_URL ?? 'http://127.0.0.1:3001';
const TEMPLATE = path.join(__dirname, 'views', 'index.html');

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const app = express();

app.get('/', (req, res) => {
  const template = fs.readFileSync(TEMPLATE, 'utf8');
  const values = { title: 'stackful example', name: req.query.name ?? 'World' };
  res.type('html').send(template.replace(/\{\{(\w+)\}\}/g, (_, key) => escapeHtml(values[key])));
});

app.get('/hash', (req, res) => {
  const key = crypto.scryptSync(String(req.query.password ?? ''), 'example-salt', 32);
  res.json({ scrypt: key.toString('hex') });
});

app.get('/upstream', (req, res) => {
  const reply = request('GET', `${UPSTREAM_URL}/data`);
  res.json({ status: reply.statusCode, upstream: JSON.parse(reply.getBody('utf8')) });
});

app.get('/exec', (req, res) => {
  const stdout = execSync('sleep 0.1 && echo "child process done"', { encoding: 'utf8' });
  res.json({ stdout: stdout.trim() });
});

const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`app listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
