/**
 * Every file in examples/ runs, exits 0, writes nothing to stderr, and prints
 * output of the shape the tutorial shows (../shared/seed/coroutines-tutorial.md;
 * examples/README.md maps its sections to the files). A new example without a
 * check here fails the first test, so none can rot unseen.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

const EXAMPLES = path.join(ROOT, 'examples');

function runExample(file: string, args: string[] = []): string[] {
  const r = spawnSync(process.execPath, [path.join(EXAMPLES, file), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${file} exited with ${r.status ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.equal(r.stderr, '', `${file} wrote to stderr`);
  return r.stdout.trimEnd().split('\n');
}

// The tutorial's producer/consumer output, every variant of example 2 prints it.
const PRODUCER_CONSUMER = [1, 2, 3, 4, 5].flatMap((n) => [
  `[PRODUCER] Producing ${n}...`,
  `[CONSUMER] Consuming ${n}...`,
  '[PRODUCER] Consumer return: 200 OK',
]);

/** `<Greenlet "f(5)" #12> 3` -> ['f(5)', 12, 3] */
function greenletLine(line: string): [string, number, number] {
  const m = /^<Greenlet "([^"]+)" #(\d+)> (\d+)/.exec(line);
  assert.ok(m, `not a greenlet line: ${line}`);
  return [m[1]!, Number(m[2]), Number(m[3])];
}

const CHECKS: Record<string, () => void> = {
  '1-subroutine-vs-coroutine.js': () => {
    assert.deepEqual(runExample('1-subroutine-vs-coroutine.js'), [
      'As subroutines (plain calls):', '1', '2', '3', 'x', 'y', 'z',
      'As coroutines (two fibers switching):', '1', '2', 'x', 'y', '3', 'z',
    ]);
  },
  '2a-producer-consumer-generator.js': () => assert.deepEqual(runExample('2a-producer-consumer-generator.js'), PRODUCER_CONSUMER),
  '2b-producer-consumer-fiber.js': () => assert.deepEqual(runExample('2b-producer-consumer-fiber.js'), PRODUCER_CONSUMER),
  '2c-producer-consumer-switch.js': () => assert.deepEqual(runExample('2c-producer-consumer-switch.js'), PRODUCER_CONSUMER),
  '2d-producer-consumer-queue.js': () => assert.deepEqual(runExample('2d-producer-consumer-queue.js'), PRODUCER_CONSUMER),
  '3-spawn-join.js': () => {
    const lines = runExample('3-spawn-join.js');
    assert.equal(lines.length, 32, lines.join('\n'));
    assert.equal(lines[0], 'f(5) as written: one after another');
    assert.equal(lines[16], 'with sleep(0) in the loop: taking turns');
    const sequential = lines.slice(1, 16).map(greenletLine);
    const turns = lines.slice(17).map(greenletLine);
    for (const [name] of [...sequential, ...turns]) assert.equal(name, 'f(5)');
    // Without sleep(0): each greenlet prints 0..4 before the next one starts.
    const ids1 = [...new Set(sequential.map(([, id]) => id))];
    assert.equal(ids1.length, 3);
    assert.deepEqual(sequential.map(([, id, i]) => [id, i]), ids1.flatMap((id) => [0, 1, 2, 3, 4].map((i) => [id, i])));
    // With sleep(0): they take turns, in the order they were spawned.
    const ids2 = [...new Set(turns.map(([, id]) => id))];
    assert.equal(ids2.length, 3);
    assert.deepEqual(turns.map(([, id, i]) => [id, i]), [0, 1, 2, 3, 4].flatMap((i) => ids2.map((id) => [id, i])));
  },
  '4-one-thread.js': () => {
    const count = 20_000;
    const lines = runExample('4-one-thread.js', [String(count)]);
    const before = Number(/^OS threads in this process before spawning: (\d+)$/.exec(lines[0]!)?.[1]);
    assert.ok(before >= 1, lines[0]);
    const progress = lines.slice(1, -1).map((line) => {
      const [name, id, i] = greenletLine(line);
      const threads = Number(/OS threads in this process: (\d+), fibers alive: \d+$/.exec(line)?.[1]);
      assert.ok(threads >= 1, line);
      return { name, id, i, threads };
    });
    // Three greenlets, each reporting at 0, every count/5 turns and at its last turn, taking turns.
    const ids = [...new Set(progress.map((p) => p.id))];
    assert.equal(ids.length, 3);
    const marks = [0, 4000, 8000, 12000, 16000, count - 1];
    assert.deepEqual(progress.map((p) => [p.id, p.i]), marks.flatMap((i) => ids.map((id) => [id, i])));
    for (const p of progress) assert.equal(p.name, `f(${count})`);
    const summary = /^3 greenlets took 60,000 turns; OS threads before: (\d+), at most while they ran: (\d+)$/.exec(lines[lines.length - 1]!);
    assert.ok(summary, lines[lines.length - 1]);
    // Greenlets are not threads: three of them do not add three OS threads.
    assert.ok(Number(summary[2]) < before + 3, lines[lines.length - 1]);
  },
  '5-three-urls.js': () => {
    const lines = runExample('5-three-urls.js');
    assert.equal(lines.length, 4, lines.join('\n'));
    // Printed in the order they complete: the servers answer after 300, 100 and 200 ms.
    assert.deepEqual(lines.slice(0, 3).map((line) => /^http:\/\/127\.0\.0\.1:\d+\/ 200 "answered after (\d+) ms"/.exec(line)?.[1]), ['100', '200', '300']);
    const summary = /^3 requests, at most (\d+) in flight at once, (\d+) ms in all \(one after another: at least (\d+) ms\)$/.exec(lines[3]!);
    assert.ok(summary, lines[3]);
    assert.equal(summary[1], '3', 'the three requests were not all in flight at the same time');
  },
};

describe('examples/ (the tutorial, step by step)', () => {
  it('has a check here for every example, and examples/README.md names every one', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.js')).sort();
    assert.deepEqual(files, Object.keys(CHECKS).sort());
    const readme = readFileSync(path.join(EXAMPLES, 'README.md'), 'utf8');
    for (const f of files) assert.ok(readme.includes(`(${f})`), `examples/README.md does not link ${f}`);
  });

  it('every example uses only the public package API (require of stackful and its subpaths)', () => {
    for (const f of Object.keys(CHECKS)) {
      const source = readFileSync(path.join(EXAMPLES, f), 'utf8');
      const required = [...source.matchAll(/require\(['"]([^'"]+)['"]\)/g)].map((m) => m[1]!);
      for (const spec of required) assert.match(spec, /^(node:[\w/]+|stackful(\/[\w-]+)?)$/, `${f} requires ${spec}`);
    }
  });

  for (const [file, check] of Object.entries(CHECKS)) {
    it(`${file} prints what the tutorial shows`, check);
  }
});
