#!/usr/bin/env node
// `npm test`: the whole test suite.
//
//   1. scripts/matrix.mjs --others: the suite on every other supported Node
//      line (prebuilt binaries), and the packed package installed without a
//      compiler on every line;
//   2. scripts/arm64.mjs: the arm64 lines under qemu-user (their fiber, safety
//      and hub suites), within a time limit of its own;
//   3. the suite on the Node running this script, against the local build, last,
//      so that its summary is what the run ends with.
//
// `npm run test:here` is step 3 alone (the quick loop while developing),
// `npm run test:arm64` step 2.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function step(cmd, args) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(' ')} failed (${r.signal ?? `exit code ${r.status}`})`);
    process.exit(r.status || 1);
  }
}

step(process.execPath, [path.join(ROOT, 'scripts', 'matrix.mjs'), '--others']);
step(process.execPath, [path.join(ROOT, 'scripts', 'arm64.mjs')]);
console.log(`\n=== Node ${process.versions.node} (this Node, local build): the whole test suite`);
step('npx', ['mocha', 'test/**/*.test.ts']);
