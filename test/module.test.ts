import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describeChild, report, ROOT, runChild } from './helpers';

const program = (load: string): string => `${load}
const f = new Fiber((x) => Fiber.yield(x + 1) * 2);
console.log(JSON.stringify([f.run(1), f.run(5), typeof FiberError]));`;

function node(args: string[]): unknown {
  return JSON.parse(execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' }));
}

describe('package entry points', () => {
  it('works with require()', () => {
    assert.deepEqual(node(['-e', program("const { Fiber, FiberError } = require('stackful');")]), [2, 10, 'function']);
  });

  it('works with import', () => {
    assert.deepEqual(node(['--input-type=module', '-e', program("import { Fiber, FiberError } from 'stackful';")]), [2, 10, 'function']);
  });

  it('ships type declarations', () => {
    const pkg = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: ROOT, encoding: 'utf8' }));
    assert.equal(pkg.exports['.'].types, './dist/index.d.ts');
    execFileSync('test', ['-f', `${ROOT}/dist/index.d.ts`]);
  });
});

describe('import side effects', () => {
  // One child process: what the package changes at import, at the first fiber, at the first park.
  let seen: { atImport: any; atFirstFiber: unknown; atFirstPark: unknown; flagsAtEnd: unknown } | undefined;
  before(() => {
    const child = runChild('side-effects.js');
    assert.ok(child.status === 0 && child.stderr === '', describeChild(child));
    seen = report(child);
  });

  it('importing stackful sets no V8 flag and adds no beforeExit listener: the first fiber turns the wasm code GC off, the first park adds the report', () => {
    assert.deepEqual(seen!.atImport.flags, []);
    assert.equal(seen!.atImport.beforeExit, 0);
    assert.deepEqual(seen!.atFirstFiber, { flags: ['--no-wasm-code-gc'], beforeExit: 0 });
    assert.deepEqual(seen!.atFirstPark, { beforeExit: 1 });
    assert.deepEqual(seen!.flagsAtEnd, ['--no-wasm-code-gc'], 'set once');
  });

  it('the switch guards are installed at import, as README "What loading stackful changes" says: process.exit and vm.Script#runInContext are wrapped', () => {
    assert.equal(seen!.atImport.exitWrapped, true);
    assert.equal(seen!.atImport.vmWrapped, true);
  });
});

describe('internal knobs stay off the public surface', () => {
  it('Fiber has no liveObjects() or switchWith(); setDrainSlice is only in dist/internal.js, which package.json does not export', () => {
    const out = node(['-e', `const s = require('stackful'); const pkg = require('stackful/package.json');
      console.log(JSON.stringify([typeof s.Fiber.liveObjects, typeof s.Fiber.switchWith, typeof s.setDrainSlice, Object.keys(pkg.exports).some((k) => k.includes('internal')),
        typeof require('./dist/internal.js').setDrainSlice]));`]);
    assert.deepEqual(out, ['undefined', 'undefined', 'undefined', false, 'function']);
  });
});
