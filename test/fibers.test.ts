import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

/**
 * stackful/fibers and stackful/future, scenario by scenario, the way
 * node-fibers runs its own tests: each file in test/fibers/ runs in a fresh
 * Node process and passes when stdout is exactly "pass\n", stderr is empty
 * and the exit code is 0. (The scenarios say require('stackful/fibers'); the
 * alias that makes require('fibers') work is tested in fibers-alias.test.ts.)
 */
const DIR = path.join(ROOT, 'test', 'fibers');

describe('stackful/fibers scenarios (node-fibers style: stdout "pass", no stderr, exit 0)', () => {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.js')).sort()) {
    it(file, () => {
      const result = spawnSync(process.execPath, ['--expose-gc', path.join(DIR, file)], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      const shown = `status=${result.status} signal=${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
      assert.equal(result.stdout, 'pass\n', shown);
      assert.equal(result.stderr, '', shown);
      assert.equal(result.status, 0, shown);
    });
  }
});

describe('stackful/fibers and stackful/future types', () => {
  it('type-check what a TypeScript user writes, and refuse misuse (test/fibers/types-check.ts)', () => {
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const args = ['--ignoreConfig', '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', path.join(DIR, 'types-check.ts')];
    const result = spawnSync(tsc, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });
});

describe('packages/fibers-compat (stackful-fibers, installed as "fibers")', () => {
  it("re-exports stackful/fibers and stackful/future, and its peer range admits this stackful's version", () => {
    const compat = path.join(ROOT, 'packages', 'fibers-compat');
    const pkg = JSON.parse(readFileSync(path.join(compat, 'package.json'), 'utf8'));
    const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    // A caret range on 0.x admits the same minor only: `^0.1.0` for 0.1.x.
    const [major, minor] = (root.version as string).split('.');
    assert.match(pkg.peerDependencies.stackful, new RegExp(`^\\^${major}\\.${minor}\\.\\d+$`));
    assert.equal(pkg.main, './fibers.js');
    for (const file of ['fibers.js', 'future.js', 'fibers.d.ts', 'future.d.ts']) assert.ok(pkg.files.includes(file), file);
    assert.match(readFileSync(path.join(compat, 'fibers.js'), 'utf8'), /module\.exports = require\('stackful\/fibers'\);/);
    assert.match(readFileSync(path.join(compat, 'future.js'), 'utf8'), /module\.exports = require\('stackful\/future'\);/);
  });
});
