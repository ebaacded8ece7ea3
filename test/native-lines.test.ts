import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SUPPORTED_PLATFORMS, SUPPORTED_V8 } from 'stackful';
import { ROOT } from './helpers';

// What a Node line or a platform needs has one home each: the V8 lines are
// the rows of kProfiles (native/v8_lines.h), the platforms the stack switches
// binding.gyp builds. The other copies (needed before the addon can load, or
// by npm and the scripts) are checked against them here.

/** The rows of kProfiles: V8 line, Node line, Node major. */
function profiles(): { v8: string; node: string; major: number }[] {
  const header = readFileSync(path.join(ROOT, 'native', 'v8_lines.h'), 'utf8');
  const table = /constexpr Profile kProfiles\[\] = \{([\s\S]*?)\n\};/.exec(header);
  assert.ok(table, 'kProfiles was not found in native/v8_lines.h');
  const rows = [...table[1]!.matchAll(/\{"(\d+\.\d+)", "(Node \d+)", (\d+),/g)].map((m) => ({ v8: m[1]!, node: m[2]!, major: Number(m[3]) }));
  assert.ok(rows.length > 0, 'kProfiles has no rows in the expected shape');
  return rows;
}

/** The `<os>-<cpu>` targets binding.gyp has a stack switch for, with its file. */
function gypTargets(): { target: string; os: string; cpu: string; file: string }[] {
  const gyp = readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8');
  const found = [...gyp.matchAll(/OS=='(\w+)' and target_arch=='(\w+)'",\s*\{\s*"sources":\s*\[\s*"(native\/arch\/[^"]+)"/g)];
  assert.ok(found.length > 0, 'binding.gyp has no condition that picks a stack switch');
  return found.map((m) => ({ target: `${m[1]}-${m[2]}`, os: m[1]!, cpu: m[2]!, file: m[3]! }));
}

describe('one home for each Node line and platform', () => {
  it('SUPPORTED_V8 (src/core/native.ts, checked before the addon loads) lists exactly the rows of kProfiles', () => {
    const fromProfiles = Object.fromEntries(profiles().map((p) => [p.v8, p.node]));
    assert.deepEqual({ ...SUPPORTED_V8 }, fromProfiles);
  });

  it('each row of kProfiles names its Node major twice alike', () => {
    for (const p of profiles()) assert.equal(p.node, `Node ${p.major}`);
  });

  it('MAJORS (scripts/lib/nodes.mjs: prebuilds and the test matrix) are the Node lines of kProfiles', async () => {
    const nodes = await import(pathToFileURL(path.join(ROOT, 'scripts', 'lib', 'nodes.mjs')).href);
    assert.deepEqual([...nodes.MAJORS], profiles().map((p) => p.major));
  });

  it('SUPPORTED_PLATFORMS, package.json os/cpu and binding.gyp name the same platforms, each with its switch file', () => {
    const targets = gypTargets();
    assert.deepEqual([...SUPPORTED_PLATFORMS].sort(), targets.map((t) => t.target).sort());
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.deepEqual([...pkg.os].sort(), [...new Set(targets.map((t) => t.os))].sort());
    assert.deepEqual([...pkg.cpu].sort(), [...new Set(targets.map((t) => t.cpu))].sort());
    for (const t of targets) assert.ok(existsSync(path.join(ROOT, t.file)), `binding.gyp names ${t.file}, which does not exist`);
  });
});
