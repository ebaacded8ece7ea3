/**
 * `npm run bench:arm64`: the ping-pong and create cases on arm64 Node, run
 * under qemu-user on this machine. An emulator's times say nothing about a
 * real arm64 CPU, nor about this machine's native numbers: each row is shown
 * as the fiber's time over the generator's, both measured in the same
 * emulated process, and only that ratio goes into README.md (between the
 * bench-arm64 markers).
 *
 *   npm run bench:arm64                 Node 24 (the default line)
 *   npm run bench:arm64 -- 20 24        those lines, one after the other
 *
 * Quick counts only: qemu-user runs V8's JIT output through its own
 * translator, tens of times slower than native.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { updateReadmeBlock } from './lib/readme.js';
import { median } from './lib/stats.js';
import type { Cell, JobResult } from './lib/types.js';
// eslint-disable-next-line @typescript-eslint/ban-ts-comment
// @ts-ignore: a plain .mjs module shared with scripts/
import { buildPrebuilds, ensureNode, QEMU } from '../scripts/lib/nodes.mjs';

const ROOT = path.resolve(__dirname, '..');
const CHILD = path.join(__dirname, 'child.ts');
const CASES = ['ping-pong', 'create'];
const START = '<!-- bench-arm64:start -->';
const END = '<!-- bench-arm64:end -->';

interface ArmNode {
  major: number;
  version: string;
  command: string[];
}

/** One case in one fresh emulated process; its cells. */
function runCase(node: ArmNode, name: string): Cell[] {
  const [cmd, ...pre] = node.command;
  const r = spawnSync(cmd!, [...pre, '--expose-gc', '--import', 'tsx', CHILD, name, 'quick', '{}'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 15 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
    // tsx's esbuild runs as a process of its own: the x86-64 one, natively.
    env: { ...process.env, PREBUILDS_ONLY: '1', ESBUILD_BINARY_PATH: path.join(ROOT, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild') },
  });
  if (r.status !== 0) throw new Error(`bench:arm64: ${name} on arm64 Node ${node.version} failed (${r.signal ?? `exit code ${r.status}`}):\n${r.stderr.slice(-2000)}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as JobResult).cells;
}

/**
 * Rows that have both a fiber and a generator column: fiber ÷ generator of
 * their medians. Derived rows (chart: false, e.g. one switch = round trip ÷ 2)
 * would repeat a ratio.
 */
function ratios(cells: Cell[]): { row: string; ratio: number }[] {
  const rows = new Map<string, Map<string, number>>();
  for (const cell of cells) {
    if (cell.chart === false) continue;
    if (!rows.has(cell.row)) rows.set(cell.row, new Map());
    rows.get(cell.row)!.set(cell.impl, median(cell.samples));
  }
  const out: { row: string; ratio: number }[] = [];
  for (const [row, impls] of rows) {
    const fiber = impls.get('fiber'), generator = impls.get('generator');
    if (fiber !== undefined && generator !== undefined && generator > 0) out.push({ row, ratio: fiber / generator });
  }
  return out;
}

function main(): void {
  const majors = process.argv.slice(2).map(Number);
  if (majors.some((m) => !Number.isInteger(m))) throw new Error(`bench:arm64: expected Node majors (e.g. 20 24), got ${process.argv.slice(2).join(' ')}`);
  const nodes: (ArmNode & { abi: string })[] = (majors.length > 0 ? majors : [24]).map((m) => ensureNode(m, 'arm64'));
  buildPrebuilds(nodes);
  const columns: { version: string; ratios: Map<string, number> }[] = [];
  for (const node of nodes) {
    const started = Date.now();
    const rows = CASES.flatMap((name) => ratios(runCase(node, name)).map((r) => ({ key: `${r.row} (${name})`, ratio: r.ratio })));
    console.log(`\narm64 Node ${node.version} under ${QEMU[0]} (${Math.round((Date.now() - started) / 1000)} s): fiber time ÷ generator time`);
    for (const r of rows) console.log(`  ${r.key.padEnd(60)} ${r.ratio.toFixed(1)}×`);
    columns.push({ version: node.version, ratios: new Map(rows.map((r) => [r.key, r.ratio])) });
  }
  const keys = [...new Set(columns.flatMap((c) => [...c.ratios.keys()]))];
  const cell = (c: (typeof columns)[number], key: string) => (c.ratios.has(key) ? `${c.ratios.get(key)!.toFixed(1)}×` : '');
  const markdown = [
    `Fiber time ÷ generator time, both measured in the same emulated process (\`npm run bench:arm64\`, quick counts, ${QEMU[0]} on x86-64): not comparable with the native numbers above, nor with a real arm64 CPU.`,
    '',
    `| workload (case) | ${columns.map((c) => `arm64 Node ${c.version}`).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...keys.map((key) => `| ${key} | ${columns.map((c) => cell(c, key)).join(' | ')} |`),
  ].join('\n');
  console.log(`\nREADME.md: ${updateReadmeBlock(path.join(ROOT, 'README.md'), markdown, START, END)}`);
}

main();
