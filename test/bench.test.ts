import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

// The benchmark is the main job: a quick run of one case must keep working
// (its numbers are not judged here; speed is measured by `npm run bench` only).
describe('npm run bench', () => {
  it('runs a case in --quick mode, prints its table and writes bench/results/quick.json', function () {
    this.timeout(120_000);
    const results = path.join(ROOT, 'bench', 'results', 'quick.json');
    fs.rmSync(results, { force: true });
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/run.ts', '--quick', '--filter', 'queue'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 100_000,
    });
    assert.equal(r.status, 0, `bench exited with ${r.signal ?? r.status}\n${r.stderr}`);
    assert.match(r.stdout, /message through Queue\(1\), ns +[\d,.]+ ±[\d.]+% +[\d,.]+ ±[\d.]+% +[\d,.]+ ±[\d.]+%/);
    const json = JSON.parse(fs.readFileSync(results, 'utf8'));
    assert.equal(json.mode, 'quick');
    const queue = json.cases.find((c: { name: string }) => c.name === 'queue');
    assert.ok(queue, 'the queue case is in quick.json');
    for (const impl of ['fiber', 'generator', 'async']) {
      const cell = queue.rows[0].values[impl];
      assert.ok(cell.median > 0 && cell.runs > 0, `${impl} has a measurement: ${JSON.stringify(cell)}`);
    }
  });

  it('the server case serves through `stackful serve` and async/await under autocannon and reports req/s, p50 and p99 (one job, --quick)', function () {
    this.timeout(120_000);
    // One job of the case, as the runner starts it: the whole case takes minutes.
    const params = JSON.stringify({ comparison: 'handler', connections: 100 });
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/child.ts', 'server', 'quick', params], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 100_000,
    });
    assert.equal(r.status, 0, `the job exited with ${r.signal ?? r.status}\n${r.stderr}`);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { cells: Array<{ row: string; unit: string; impl: string; samples: number[] }>; notes: string[] };
    for (const impl of ['serve', 'async']) {
      for (const [metric, unit] of [['requests per second', 'req/s'], ['p50 latency', 'ms'], ['p99 latency', 'ms']]) {
        const cell = result.cells.find((c) => c.impl === impl && c.row === `handler calling the upstream, 100 connections: ${metric}`);
        assert.ok(cell, `${impl}: no ${metric} cell in ${r.stdout}`);
        assert.equal(cell.unit, unit);
        assert.ok(cell.samples.length === 1 && cell.samples[0]! > 0, `${impl} ${metric}: ${JSON.stringify(cell.samples)}`);
      }
    }
    assert.ok(result.notes.some((n) => /serve ÷ async = [\d.]+× the req\/s/.test(n)), result.notes.join('\n'));
  });

  it('refuses an unknown option with a usage message, not a stack trace', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--fast'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown option "--fast"; usage: npm run bench/);
    assert.doesNotMatch(r.stderr, /at .*run\.ts:\d+/);
  });
});
