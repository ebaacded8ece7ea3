import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
});
