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
    for (const needed of ['package.json', 'README.md', 'binding.gyp', 'dist/index.js', 'dist/index.d.ts', 'dist/core/fiber.js', 'native/binding.cc', 'native/v8_state.cc', 'native/arch/switch_x86_64_sysv.S', 'native/arch/switch_aarch64_aapcs64.S']) {
      assert.ok(files.includes(needed), `missing ${needed}`);
    }
    const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|dist\/([\w-]+\/){0,2}[\w-]+\.(js|d\.ts)|native\/[\w/-]+\.(cc|h|S)|prebuilds\/linux-(x64|arm64)\/stackful\.abi\d+\.node)$/;
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
    assert.deepEqual([pkg.engines.node, pkg.os, pkg.cpu], ['>=20.19', ['linux'], ['x64', 'arm64']]);
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

describe('a package without binaries (installed with --ignore-scripts, or build scripts not approved)', () => {
  let app: string;
  let pkg: string;

  before(() => {
    // A copy of the package as npm would lay it out, without build/ or prebuilds/.
    app = mkdtempSync(path.join(tmpdir(), 'stackful-nobin-'));
    pkg = path.join(app, 'node_modules', 'stackful');
    mkdirSync(pkg, { recursive: true });
    cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true, filter: (f) => !f.endsWith('.map') });
    symlinkSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(app, 'node_modules', 'node-gyp-build'));
  });

  after(() => rmSync(app, { recursive: true, force: true }));

  function requireIt(): { status: number | null; stderr: string; caught: { name: string; code: string; message: string; cause: string } } {
    const script = `
      try { require('stackful'); console.log('{}'); }
      catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message, cause: String(err.cause && err.cause.message) })); }
      require('stackful');`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8', timeout: 30_000, env: { ...process.env, STACKFUL_PREBUILD: '', PREBUILDS_ONLY: '' } });
    return { status: r.status, stderr: r.stderr, caught: JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') };
  }

  it('throws ERR_STACKFUL_NO_BINARY naming this Node, its ABI, the platform, what was looked for, and the fix per package manager', () => {
    const { status, stderr, caught } = requireIt();
    assert.equal(caught.code, 'ERR_STACKFUL_NO_BINARY', JSON.stringify(caught));
    assert.equal(caught.name, 'NativeBinaryError');
    const m = caught.message;
    for (const piece of [`Node ${process.versions.node}`, `ABI ${process.versions.modules}`, `${process.platform}-${process.arch}`, 'build/Release/stackful.node', `prebuilds/${process.platform}-${process.arch}/stackful.abi${process.versions.modules}.node`, pkg, 'there are no prebuilds', 'npm rebuild stackful', 'pnpm approve-builds', 'yarn rebuild stackful']) {
      assert.ok(m.includes(piece), `the message lacks ${JSON.stringify(piece)}: ${m}`);
    }
    assert.match(caught.cause, /No native build was found/);
    // Uncaught, the code shows in the first line of what Node prints.
    assert.equal(status, 1);
    assert.match(stderr, /NativeBinaryError \[ERR_STACKFUL_NO_BINARY\]: stackful has no native binary for Node/);
  });

  it('says which ABIs the prebuilds it found are for', () => {
    const dir = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'stackful.abi1.node'), '');
    writeFileSync(path.join(dir, 'stackful.abi127.node'), '');
    try {
      const { caught } = requireIt();
      assert.equal(caught.code, process.versions.modules === '127' ? 'ERR_STACKFUL_BINARY_LOAD' : 'ERR_STACKFUL_NO_BINARY');
      if (process.versions.modules !== '127') assert.match(caught.message, /prebuilds there are only for ABI 1, ABI 127 \(Node 22\)|prebuilds there are only for ABI 127 \(Node 22\), ABI 1/);
    } finally {
      rmSync(path.join(pkg, 'prebuilds'), { recursive: true, force: true });
    }
  });

  it('throws ERR_STACKFUL_BINARY_LOAD naming the file when a binary is found but does not load', () => {
    const dir = path.join(pkg, 'build', 'Release');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'stackful.node'), 'not an ELF file');
    try {
      const { caught } = requireIt();
      assert.equal(caught.code, 'ERR_STACKFUL_BINARY_LOAD', JSON.stringify(caught));
      assert.ok(caught.message.includes(path.join(dir, 'stackful.node')), caught.message);
      assert.ok(caught.message.includes('npm rebuild stackful'), caught.message);
    } finally {
      rmSync(path.join(pkg, 'build'), { recursive: true, force: true });
    }
  });
});
