import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Fiber, runInFiber, sleep } from 'stackful';
import { codeOf, describeChild, report, runChild } from './helpers';

const register = ['--require', 'stackful/register'];

describe('a vm run with `timeout` or `breakOnSigint`', () => {
  const expected = [
    ['sleep in a timed run', { code: 'ERR_FIBER_VM_TIMEOUT', message: 'cannot switch to the root fiber from fiber #1: fiber #1 is r' }],
    ['yield in breakOnSigint run', { code: 'ERR_FIBER_VM_TIMEOUT', message: 'cannot yield from fiber #2: fiber #2 is running vm code with' }],
    ['root switches in from a timed run', { code: 'ERR_FIBER_VM_TIMEOUT', message: 'cannot run fiber #3 from the root fiber: the root fiber is r' }],
    ['root busy past the timeout', 'still running'],
    ['readFileSync in a timed run', { value: true }],
    ['infinite loop', { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT', message: 'Script execution timed out after 50ms' }],
    ['untimed run may park', { value: 'ok' }],
    ['runInFiber', 'fiber finished'],
    ['greenlet', 'ERR_FIBER_VM_TIMEOUT'],
  ];

  it('switching works again once the vm call returns, and Fiber\'s methods are its own again', async () => {
    const methods = [Fiber.prototype.switch, Fiber.prototype.run, Fiber.prototype.throw, Fiber.prototype.kill, Fiber.yield];
    const result = await runInFiber(() => {
      const refused = codeOf(() => vm.runInNewContext('sleep(1)', { sleep }, { timeout: 5000 }));
      const nested = codeOf(() => vm.runInNewContext('run(() => vm.runInNewContext("1", {}, { timeout: 5000 })); sleep(1)', { run: (fn: () => unknown) => fn(), vm, sleep }, { timeout: 5000 }));
      sleep(1); // parks again
      return { refused, nested, value: vm.runInNewContext('40 + 2', {}, { timeout: 5000 }) };
    });
    assert.deepEqual(result, { refused: 'ERR_FIBER_VM_TIMEOUT', nested: 'ERR_FIBER_VM_TIMEOUT', value: 42 });
    assert.deepEqual([Fiber.prototype.switch, Fiber.prototype.run, Fiber.prototype.throw, Fiber.prototype.kill, Fiber.yield], methods);
  });

  for (const mode of ['main', 'promise']) {
    it(`refuses to switch out of it (ERR_FIBER_VM_TIMEOUT), and the rest of the script runs (started from ${mode === 'main' ? 'the main script' : 'a promise callback'})`, () => {
      const child = runChild('vm-timeout.js', [mode], { nodeArgs: register, timeoutMs: 30_000 });
      assert.equal(child.status, 0, describeChild(child));
      assert.equal(child.stderr, '');
      assert.deepEqual(report(child), expected);
    });
  }
});

describe('process.exit() from a greenlet', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackful-exit-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function exit(mode: string): { status: number | null; stderr: string; lines: string[]; listenerFile: string | undefined } {
    const file = path.join(dir, `${mode}.log`);
    const child = runChild('exit.js', [mode, file], { nodeArgs: register, timeoutMs: 30_000 });
    const read = (f: string): string | undefined => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : undefined);
    return { status: child.status, stderr: child.stderr, lines: (read(file) ?? '').trim().split('\n'), listenerFile: read(`${file}.listener`) };
  }

  it('runs the exit listeners with the IO hooks synchronous, fires no timer, and never returns', () => {
    const { status, stderr, lines, listenerFile } = exit('io');
    assert.equal(stderr, '');
    assert.equal(status, 3);
    assert.deepEqual(lines, [
      'process.exit(1.5): ERR_OUT_OF_RANGE',
      'greenlet calls process.exit(3)',
      'exit listener: code 3, in a fiber',
      'execSync: from a child',
      'Atomics.wait: timed-out',
      'second exit listener',
    ]);
    assert.equal(listenerFile, 'written by the exit listener');
  });

  it('a listener that sleeps gets ERR_PROCESS_EXITING; the process still exits with the code given', () => {
    const { status, stderr, lines } = exit('sleep');
    assert.equal(status, 3);
    assert.deepEqual(lines, ['process.exit(1.5): ERR_OUT_OF_RANGE', 'greenlet calls process.exit(3)', 'exit listener: code 3, in a fiber', 'sleep: ERR_PROCESS_EXITING']);
    assert.match(stderr, /an 'exit' listener threw; the process exits with code 3 all the same/);
    assert.match(stderr, /FiberError \[ERR_PROCESS_EXITING\]: cannot switch to the root fiber from fiber #\d+ \("greenlet #\d+"\): the process is exiting/);
  });

  it('a listener that switches or yields gets ERR_PROCESS_EXITING; process.exit() does not return', () => {
    const { status, stderr, lines } = exit('yield');
    assert.equal(status, 3);
    assert.deepEqual(lines, ['process.exit(1.5): ERR_OUT_OF_RANGE', 'greenlet calls process.exit(3)', 'exit listener: code 3, in a fiber', 'switch: ERR_PROCESS_EXITING']);
    assert.match(stderr, /cannot yield from fiber #\d+ \("greenlet #\d+"\): the process is exiting/);
  });

  it('on the root fiber, as in Node: listeners run, the IO hooks are Node\'s own', () => {
    const { status, stderr, lines, listenerFile } = exit('root');
    assert.equal(stderr, '');
    assert.equal(status, 4);
    assert.deepEqual(lines, ['exit listener: code 4, in the root', 'execSync: from a child', 'Atomics.wait: timed-out', 'second exit listener']);
    assert.equal(listenerFile, 'written by the exit listener');
  });
});
