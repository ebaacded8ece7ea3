'use strict';
// The routes of app.js, rewritten with async/await: what the same app looks
// like when every wait has to be awaited. Runs under plain node.
//
//   node examples/server/async.js
//
// Same routes, same responses, same environment (PORT, HOST, UPSTREAM_URL).
const crypto = require('node:crypto');
const { exec } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { promisify } = require('node:util');
const express = require('express');

const scrypt = promisify(crypto.scrypt);
const execAsync = promisify(exec);

const UPSTREAM_URL = process.env.UPSTREAM_URL ?? 'http://127.0.0.1:3001';
const TEMPLATE = path.join(__dirname, 'views', 'index.html');

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const app = express();

app.get('/', async (req, res) => {
  const template = await fs.promises.readFile(TEMPLATE, 'utf8');
  const values = { title: 'stackful example', name: req.query.name ?? 'World' };
  res.type('html').send(template.replace(/\{\{(\w+)\}\}/g, (_, key) => escapeHtml(values[key])));
});

app.get('/hash', async (req, res) => {
  const key = await scrypt(String(req.query.password ?? ''), 'example-salt', 32);
  res.json({ scrypt: key.toString('hex') });
});

app.get('/upstream', async (req, res) => {
  const reply = await fetch(`${UPSTREAM_URL}/data`);
  if (!reply.ok) throw new Error(`upstream answered ${reply.status}`);
  res.json({ status: reply.status, upstream: await reply.json() });
});

app.get('/exec', async (req, res) => {
  const { stdout } = await execAsync('sleep 0.1 && echo "child process done"', { encoding: 'utf8' });
  res.json({ stdout: stdout.trim() });
});

const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`app listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});
