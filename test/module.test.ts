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
  it('importing stackful sets no V8 flag and adds no beforeExit listener: the first fiber turns the wasm code GC off, the first park adds the report', () => {
    const child = runChild('side-effects.js');
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(child.stderr, '');
    const r = report(child);
    assert.deepEqual(r.atImport.flags, []);
    assert.equal(r.atImport.beforeExit, 0);
    assert.deepEqual(r.atFirstFiber, { flags: ['--no-wasm-code-gc'], beforeExit: 0 });
    assert.deepEqual(r.atFirstPark, { beforeExit: 1 });
    assert.deepEqual(r.flagsAtEnd, ['--no-wasm-code-gc'], 'set once');
  });

  it('the switch guards are installed at import, as README "What loading stackful changes" says: process.exit and vm.Script#runInContext are wrapped', () => {
    const r = report(runChild('side-effects.js'));
    assert.equal(r.atImport.exitWrapped, true);
    assert.equal(r.atImport.vmWrapped, true);
  });
});
