#!/usr/bin/env node
// The arm64 step of `npm test` (npm run test:arm64): arm64 Nodes run under
// qemu-user on this x86-64 machine, against addons cross-compiled with
// Debian's aarch64-linux-gnu tools (installed with apt-get when missing and
// running as root, as in CI: scripts/lib/nodes.mjs).
//
//   node scripts/arm64.mjs               every line, its suites (SUITES below)
//   node scripts/arm64.mjs 24            only that line
//
// First the switch alone (test/native/switch_aarch64.cc, no Node), then per
// line the suites below, each line in one mocha run, two lines at a time:
//   - mocha runs in-process (mocha/lib/cli/cli.js): its bin would re-spawn
//     process.execPath for its node options, which no kernel here can run;
//   - tsx's esbuild is the x86-64 binary (ESBUILD_BINARY_PATH), a process of
//     its own that runs natively;
//   - child Nodes of the tests go through qemu too (STACKFUL_TEST_NODE_WRAPPER,
//     test/helpers.ts nodeCommand());
//   - PREBUILDS_ONLY: node-gyp-build must take prebuilds/linux-arm64, not the
//     x86-64 build in build/.
// The whole step has one time budget (STACKFUL_ARM64_MINUTES, default 25);
// the run that would go past it is stopped and the step fails saying so.
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { buildPrebuilds, ensureNode, MAJORS, QEMU, ROOT } from './lib/nodes.mjs';

/** What each arm64 line runs (issue #18): the hub too on 20 and 24. */
const SUITES = {
  20: ['fiber', 'safety', 'hub'],
  22: ['fiber', 'safety'],
  24: ['fiber', 'safety', 'hub'],
  26: ['fiber', 'safety'],
};

const started = Date.now();
const budgetMs = Number(process.env.STACKFUL_ARM64_MINUTES || 25) * 60_000;
const left = () => budgetMs - (Date.now() - started);
const majors = process.argv.slice(2).map(Number);
for (const m of majors) {
  if (!SUITES[m]) {
    console.error(`arm64: no arm64 suites for Node ${m}; the lines are ${MAJORS.join(', ')}`);
    process.exit(2);
  }
}

function step(what, cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', timeout: Math.max(left(), 1000), killSignal: 'SIGKILL', ...options });
  if (r.status === 0) return;
  const why = r.error?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && left() <= 0)
    ? `stopped: the arm64 step's ${budgetMs / 60_000} min budget ran out (STACKFUL_ARM64_MINUTES)`
    : (r.signal ?? `exit code ${r.status}`);
  console.error(`\narm64: ${what} failed (${why})`);
  process.exit(r.status || 1);
}

const nodes = (majors.length > 0 ? majors : MAJORS).map((m) => ensureNode(m, 'arm64'));
buildPrebuilds(nodes);

console.log('\n=== arm64: the switch alone, under qemu-aarch64');
step('test/native/run-switch-aarch64.sh', 'sh', [path.join(ROOT, 'test', 'native', 'run-switch-aarch64.sh')]);

// Two lines at a time (CI has 2 cores; qemu-user runs each mostly on one),
// each line's output printed whole when it ends.
function runLine(node) {
  const files = SUITES[node.major].map((s) => path.join('test', `${s}.test.ts`));
  const mocha = path.join(ROOT, 'node_modules', 'mocha', 'lib', 'cli', 'cli.js');
  const [cmd, ...pre] = node.command;
  const args = [...pre, '--expose-gc', '--import', 'tsx', mocha, '--no-config', '--timeout', '600000', '--reporter', 'spec', '--exit', ...files];
  const header = `\n=== arm64 Node ${node.version} under ${QEMU[0]}: ${SUITES[node.major].join(', ')}\n$ ${[...node.command, '--expose-gc', '--import', 'tsx', 'mocha', ...files].join(' ')}\n`;
  const lineStarted = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PREBUILDS_ONLY: '1',
        ESBUILD_BINARY_PATH: path.join(ROOT, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild'),
        STACKFUL_TEST_NODE_WRAPPER: QEMU.join(' '),
      },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(left(), 1000));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.stdout.write(header + out);
      const seconds = Math.round((Date.now() - lineStarted) / 1000);
      const why = signal === 'SIGKILL' && left() <= 0
        ? `stopped: the arm64 step's ${budgetMs / 60_000} min budget ran out (STACKFUL_ARM64_MINUTES)`
        : (signal ?? `exit code ${code}`);
      resolve(code === 0
        ? { ok: true, line: `arm64 Node ${node.version}: ${SUITES[node.major].join(', ')} passed (${seconds} s)` }
        : { ok: false, line: `arm64 Node ${node.version}: FAILED (${why}, after ${seconds} s)` });
    });
  });
}

const queue = [...nodes];
const results = [];
await Promise.all([0, 1].map(async () => {
  for (let node; (node = queue.shift()) !== undefined;) results.push(await runLine(node));
}));
console.log(`\n${results.map((r) => r.line).join('\n')}\narm64 step done in ${Math.round((Date.now() - started) / 1000)} s`);
if (results.some((r) => !r.ok)) process.exit(1);
