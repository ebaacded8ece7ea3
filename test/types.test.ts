/**
 * The published declarations, as a user's TypeScript project sees them: a
 * copy of the package's .d.ts files in a scratch project's node_modules, with
 * @types/node installed beside it (it is a dependency of stackful, so npm puts
 * it there) and nothing in the project's tsconfig but `strict` and
 * `module: nodenext`. TypeScript 7 no longer loads @types/node by itself: the
 * declarations must ask for it (`/// <reference types="node" />`). Compiled
 * with TypeScript 7 (`typescript`, the devDependency) and 5.x, installed from
 * npm into .cache/typescript5 on first use: as a devDependency under an alias
 * it would also install a `tsc` command, and which of the two
 * node_modules/.bin/tsc then named depended on npm's install order.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ROOT } from './helpers';

const COMPILERS = [
  { name: 'TypeScript 7', bin: path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc') },
  { name: 'TypeScript 5', bin: path.join(ROOT, '.cache', 'typescript5', 'node_modules', 'typescript', 'bin', 'tsc') },
];

/** TypeScript 5.x in .cache/typescript5, installed from npm the first time. */
function ensureTypeScript5(): void {
  const prefix = path.join(ROOT, '.cache', 'typescript5');
  if (existsSync(COMPILERS[1]!.bin)) return;
  mkdirSync(prefix, { recursive: true });
  const npm = spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, 'typescript@5'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(npm.status, 0, `npm install typescript@5 failed:\n${npm.stderr}`);
}

// Type-level assertions: a line fails to compile when a type is not exactly the one expected.
const HELPERS = `
export type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
export function expectType<T extends true>(): T | void {}
`;

// Every entry point, and the types issue #19 tightened.
const CONSUMER = `
import { Fiber, Greenlet, spawn, joinAll, iwait, local, runInFiber, wait, sleep, Queue, Timeout, NativeBinaryError, FiberError } from 'stackful';
import { get, type Response } from 'stackful/http';
import { connect, listen, type Socket } from 'stackful/net';
import { lookup } from 'stackful/dns';
import { sleep as greenSleep } from 'stackful/timers';
import { patchAll, getOriginal } from 'stackful/patch';
import { expectType, type Equal } from './helpers.js';

const fiber = new Fiber((x: number) => Fiber.yield(x) as number + 1, { name: 'adder' });
const first: unknown = fiber.run(20);

// joinAll() and iwait() give back the greenlets' own types.
const doubled = joinAll([spawn((n: number) => n * 2, 21)]);
expectType<Equal<typeof doubled, Greenlet<number>[]>>();
const value: number | undefined = doubled[0]!.value;
const mixed = joinAll([spawn(() => 1), spawn(() => 'one')], { timeout: 10 });
expectType<Equal<typeof mixed, (Greenlet<number> | Greenlet<string>)[]>>();
for (const g of iwait([spawn(() => true)])) expectType<Equal<typeof g, Greenlet<boolean>>>();

// Response#json() is unknown unless told.
export function body(res: Response): { ok: boolean } {
  const parsed = res.json();
  expectType<Equal<typeof parsed, unknown>>();
  // @ts-expect-error: unknown, not any: it must be narrowed or typed
  parsed.ok;
  return res.json<{ ok: boolean }>();
}

// local() values are unknown unless typed.
const anything = local();
expectType<Equal<(typeof anything)[string], unknown>>();
const request = local<{ id?: string }>(() => ({ id: 'none' }));
const id: string | undefined = request.id;

const promised: Promise<number> = runInFiber((a: number) => a + 1, 1);
export function inFiber(): void {
  const text: string = wait(Promise.resolve('x'));
  sleep(0);
  greenSleep(1);
  const q = new Queue<number>(1);
  q.put(1);
  const n: number = q.get();
  const t = new Timeout(10);
  t.start();
  t[Symbol.dispose]();
  const res = get('http://127.0.0.1:1/');
  const status: number = res.status;
  const sock: Socket = connect(1, '127.0.0.1');
  const buf: Buffer | null = sock.read(4);
  listen(0).close();
  lookup('localhost');
}
patchAll();
const original = getOriginal;
const err: unknown = new FiberError('ERR_X', 'x');
if (err instanceof NativeBinaryError) { const code: string = err.code; }
export { first, value, id, promised, original };
`;

describe('the published .d.ts files, in a user project (strict, module nodenext, no other flags)', () => {
  let project: string;

  before(function () {
    this.timeout(180_000);
    ensureTypeScript5();
    for (const { bin, name } of COMPILERS) assert.ok(existsSync(bin), `${name} is not installed at ${bin}: run npm install`);
    project = mkdtempSync(path.join(tmpdir(), 'stackful-types-'));
    const pkg = path.join(project, 'node_modules', 'stackful');
    mkdirSync(pkg, { recursive: true });
    cpSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    // Only the declarations: a copy, so that nothing resolves through this repository's node_modules.
    cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true, filter: (f) => !/\.(js|map)$/.test(f) });
    assert.ok(readdirSync(path.join(pkg, 'dist')).includes('index.d.ts'), 'run `npm run build` (or tsc) first');
    // @types/node where npm puts stackful's dependency.
    mkdirSync(path.join(project, 'node_modules', '@types'));
    symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(project, 'node_modules', '@types', 'node'));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'commonjs' }));
    writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', noEmit: true } }));
    writeFileSync(path.join(project, 'helpers.ts'), HELPERS);
    writeFileSync(path.join(project, 'main.ts'), CONSUMER);
    // The same from an ES module.
    writeFileSync(path.join(project, 'main.mts'), CONSUMER);
  });

  after(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  for (const { name, bin } of COMPILERS) {
    it(`compile cleanly with ${name}, with typed greenlet results and unknown defaults`, () => {
      const r = spawnSync(process.execPath, [bin, '-p', project], { cwd: project, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, `${name} reported:\n${r.stdout}${r.stderr}`);
    });
  }
});
