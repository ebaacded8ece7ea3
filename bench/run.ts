/**
 * `npm run bench`: runs every case of bench/cases, each job in its own fresh
 * Node process (bench/child.ts), and writes what they measured:
 *   - a table per case on the terminal;
 *   - bench/results/latest.{json,md,svg} and the block between the bench
 *     markers in README.md (full runs of every case only);
 *   - bench/results/quick.* for --quick, bench/results/filtered.* for --filter.
 *
 *   npm run bench                       every case, full counts (a few minutes)
 *   npm run bench -- --quick            every case, short counts (under 30 s; CI runs this)
 *   npm run bench -- --filter ping      only cases whose name contains "ping"
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cases, type CaseEntry } from './cases/index.js';
import { renderChart } from './lib/chart.js';
import { sortImpls } from './lib/impls.js';
import { describeMachine, machineLine } from './lib/machine.js';
import { updateReadmeBlock } from './lib/readme.js';
import { resultsMarkdown, summaryMarkdown, terminalTable } from './lib/report.js';
import { summarize } from './lib/stats.js';
import type { CaseResult, Cell, JobParams, JobResult, Mode, Results, RowResult } from './lib/types.js';

const ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(__dirname, 'results');
const CHILD = path.join(__dirname, 'child.ts');

/** A mistake on the command line: shown as a message, not as a stack trace. */
class UsageError extends Error {}

interface Options {
  mode: Mode;
  filter: string | null;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { mode: 'full', filter: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') options.mode = 'quick';
    else if (arg === '--filter' || arg.startsWith('--filter=')) {
      const value = arg === '--filter' ? argv[++i] : arg.slice('--filter='.length);
      if (!value) throw new UsageError('--filter needs a case name (or part of one)');
      options.filter = value;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`usage: npm run bench -- [--quick] [--filter <name>]\ncases: ${cases.map((c) => c.name).join(', ')}\n`);
      process.exit(0);
    } else throw new UsageError(`unknown option ${JSON.stringify(arg)}; usage: npm run bench -- [--quick] [--filter <name>]`);
  }
  return options;
}

interface ChildOutcome {
  result?: JobResult;
  /** What went wrong, with the end of the child's stderr. */
  error?: string;
  /** How the child ended, when it failed: "exited with SIGABRT" and the like. */
  exit?: string;
  stderr?: string;
}

/** Runs one job in a fresh process; its last stdout line is the JobResult. */
function runChild(name: string, mode: Mode, params: JobParams): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const args = ['--expose-gc', '--import', 'tsx', CHILD, name, mode, JSON.stringify(params)];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const limit = mode === 'quick' ? 60_000 : 600_000;
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const job = `${name} ${JSON.stringify(params)}`;
      const tail = stderr.trim().split('\n').slice(-12).join('\n');
      if (code !== 0) {
        const exit = `exited with ${signal ?? `code ${code}`}${signal === 'SIGKILL' ? ` (killed after ${limit / 1000} s?)` : ''}`;
        resolve({ error: `${job}: ${exit}\n${tail}`, exit, stderr });
        return;
      }
      try {
        resolve({ result: JSON.parse(stdout.trim().split('\n').pop()!) as JobResult });
      } catch {
        resolve({ error: `${job}: printed no result\n${stdout.slice(-500)}\n${tail}` });
      }
    });
  });
}

/** Folds the cells of every job of a case into rows: samples of the same row and implementation are pooled. */
function mergeRows(cells: Cell[]): RowResult[] {
  const rows = new Map<string, { row: RowResult; order: number | undefined; seen: number; cells: Map<string, Cell[]> }>();
  for (const cell of cells) {
    let entry = rows.get(cell.row);
    if (entry === undefined) {
      entry = { row: { label: cell.row, unit: cell.unit, chart: cell.chart ?? true, values: {} }, order: cell.order, seen: rows.size, cells: new Map() };
      rows.set(cell.row, entry);
    }
    const list = entry.cells.get(cell.impl) ?? [];
    list.push(cell);
    entry.cells.set(cell.impl, list);
  }
  const merged = [...rows.values()];
  if (merged.every((e) => e.order !== undefined)) merged.sort((a, b) => a.order! - b.order!);
  for (const entry of merged) {
    for (const impl of sortImpls(entry.cells.keys())) {
      const list = entry.cells.get(impl)!;
      const samples = list.flatMap((c) => c.samples);
      const notes = [...new Set(list.flatMap((c) => (c.note ? [c.note] : [])))];
      const ops = [...new Set(list.flatMap((c) => (c.ops !== undefined ? [c.ops] : [])))];
      entry.row.values[impl] = {
        ...summarize(samples),
        samples,
        ...(ops.length === 1 ? { ops: ops[0] } : {}),
        ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
      };
    }
  }
  return merged.map((e) => e.row);
}

/** How a child died: the line of its stderr that says what killed it, and its exit. */
function causeOfDeath(outcome: ChildOutcome): string {
  const line = (outcome.stderr ?? '').split('\n').map((l) => l.trim()).find((l) => /FATAL|terminate called|what\(\)|Error/.test(l));
  return line ? `${line} (${outcome.exit})` : (outcome.exit ?? 'failed');
}

async function runCase(entry: CaseEntry, mode: Mode): Promise<CaseResult> {
  const started = Date.now();
  const mod = await entry.load();
  const jobs = mod.jobs?.(mode) ?? [{}];
  const cells: Cell[] = [];
  const notes: string[] = [];
  const errors: string[] = [];
  process.stdout.write(`${entry.name}: ${jobs.length} process${jobs.length > 1 ? 'es' : ''} `);
  for (const params of jobs) {
    const outcome = await runChild(entry.name, mode, params);
    process.stdout.write(outcome.error ? 'x' : '.');
    if (outcome.error && params.mayAbort) {
      // A job that probes a limit may be killed by it: that is its finding, not a failure of the benchmark.
      notes.push(`the job ${JSON.stringify(params)} did not finish: ${causeOfDeath(outcome)}`);
    } else if (outcome.error) errors.push(outcome.error);
    for (const cell of outcome.result?.cells ?? []) cells.push(cell);
    for (const note of outcome.result?.notes ?? []) if (!notes.includes(note)) notes.push(note);
  }
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(` ${seconds.toFixed(1)} s\n`);
  return {
    name: entry.name,
    title: mod.about.title,
    operation: mod.about.operation,
    impls: sortImpls(cells.map((c) => c.impl)),
    rows: mergeRows(cells),
    notes,
    ...(errors.length > 0 ? { error: errors.join('\n') } : {}),
    seconds,
  };
}

/** Writes `file` whole or not at all (a .tmp next to it, then a rename). */
function writeAtomic(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const selected = options.filter === null ? cases : cases.filter((c) => c.name.includes(options.filter!));
  if (selected.length === 0) {
    throw new UsageError(`--filter ${options.filter} matches no case; cases: ${cases.map((c) => c.name).join(', ')}`);
  }
  const machine = describeMachine(ROOT);
  const started = Date.now();
  process.stdout.write(`stackful benchmarks (${options.mode}${options.filter ? `, --filter ${options.filter}` : ''})\n${machineLine(machine)}\n`);
  if (Number(machine.load) > machine.cores / 2) {
    process.stdout.write(`warning: load average ${machine.load} on ${machine.cores} cores: other work is running, timings will be noisy\n`);
  }
  process.stdout.write('\n');

  const results: Results = { date: new Date().toISOString(), mode: options.mode, filter: options.filter, machine, seconds: 0, cases: [] };
  for (const entry of selected) {
    const result = await runCase(entry, options.mode);
    results.cases.push(result);
    process.stdout.write(`${terminalTable(result)}\n\n`);
  }
  results.seconds = (Date.now() - started) / 1000;
  machine.load = `${machine.load} → ${os.loadavg()[0]!.toFixed(2)}`;

  const base = options.mode === 'quick' ? 'quick' : options.filter !== null ? 'filtered' : 'latest';
  fs.mkdirSync(RESULTS, { recursive: true });
  const files = { json: `${base}.json`, md: `${base}.md`, svg: `${base}.svg` };
  writeAtomic(path.join(RESULTS, files.json), `${JSON.stringify(results, null, 2)}\n`);
  writeAtomic(path.join(RESULTS, files.svg), renderChart(results, files.md));
  writeAtomic(path.join(RESULTS, files.md), resultsMarkdown(results, files.svg));
  const written = Object.values(files).map((f) => path.relative(ROOT, path.join(RESULTS, f)));
  process.stdout.write(`wrote ${written.join(', ')}\n`);

  if (base === 'latest') {
    const summary = summaryMarkdown(results, { details: 'bench/results/latest.md', chart: 'bench/results/latest.svg', base: repositoryUrls() });
    const readme = updateReadmeBlock(path.join(ROOT, 'README.md'), summary);
    process.stdout.write(`README.md: ${readme === 'updated' ? 'benchmark block rewritten' : readme}\n`);
  }
  const failed = results.cases.filter((c) => c.error);
  process.stdout.write(`${results.cases.length} cases in ${results.seconds.toFixed(1)} s${failed.length ? `; FAILED: ${failed.map((c) => c.name).join(', ')}` : ''}\n`);
  if (failed.length > 0) process.exitCode = 1;
}

/** Where files of the repository are read on the web, from package.json's `repository` (GitHub). */
function repositoryUrls(): { blob: string; raw: string } | undefined {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { repository?: { url?: string } | string };
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const m = url === undefined ? null : /github\.com[/:]([\w.-]+\/[\w.-]+?)(\.git)?$/.exec(url);
  return m ? { blob: `https://github.com/${m[1]}/blob/main/`, raw: `https://github.com/${m[1]}/raw/main/` } : undefined;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
