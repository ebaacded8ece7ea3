import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers';

describe('npm pack', () => {
  it('ships the compiled library, the native sources and the prebuilds, and nothing else', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
    for (const needed of ['package.json', 'README.md', 'binding.gyp', 'dist/index.js', 'dist/index.d.ts', 'dist/fiber.js', 'native/binding.cc', 'native/v8_state.cc', 'native/arch/switch_x86_64_sysv.S']) {
      assert.ok(files.includes(needed), `missing ${needed}`);
    }
    const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|dist\/([\w-]+\/)?[\w-]+\.(js|d\.ts)|native\/[\w/-]+\.(cc|h|S)|prebuilds\/linux-x64\/stackful\.abi\d+\.node)$/;
    const junk = files.filter((f) => !allowed.test(f));
    assert.deepEqual(junk, [], `unexpected files in the package: ${junk.join(', ')}`);
  });

  it('carries the LICENSE and the metadata a registry page and a package manager read', () => {
    const files = packedFiles();
    assert.ok(files.includes('LICENSE'), 'LICENSE is not in the package');
    assert.match(readFileSync(path.join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 the stackful authors\n/);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.license, 'MIT');
    assert.match(pkg.repository.url, /^git\+https:\/\/github\.com\/stackful-js\/stackful\.git$/);
    assert.match(pkg.bugs.url, /^https:\/\/github\.com\/stackful-js\/stackful\/issues$/);
    assert.match(pkg.homepage, /^https:\/\/github\.com\/stackful-js\/stackful/);
    assert.deepEqual([pkg.engines.node, pkg.os, pkg.cpu], ['>=20.19', ['linux'], ['x64']]);
    // `npm pack` / `npm publish` build a prebuild per supported Node line first.
    assert.equal(pkg.scripts.prepack, 'node scripts/prebuild.mjs');
  });

  it('README.md links only to files in the package, or to absolute URLs (it is also the page on npm)', () => {
    const files = packedFiles();
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    assert.ok(targets.length > 0);
    const broken = targets.filter((t) => !/^(https?:|mailto:|#)/.test(t) && !files.includes(t.replace(/^\.\//, '').replace(/#.*$/, '')));
    assert.deepEqual(broken, [], `README.md links to files that are not in the package: ${broken.join(', ')}`);
  });
});

let packed: string[] | undefined;
/** What `npm pack` puts in the tarball (without running prepack), listed once. */
function packedFiles(): string[] {
  packed ??= (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }))[0].files as Array<{ path: string }>).map((f) => f.path);
  return packed;
}
