import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ROOT } from './helpers';

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
