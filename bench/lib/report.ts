/** Tables: one per case for the terminal and for results/*.md, and the short one for README.md. */
import { implStyle, sortImpls } from './impls.js';
import { machineLine } from './machine.js';
import type { CaseResult, Results, RowResult, Summary, Unit } from './types.js';

/** Three significant digits, thousands separated; counts and bytes as whole numbers. */
export function formatValue(value: number, unit: Unit): string {
  if (unit === 'count' || unit === 'bytes') return Math.round(value).toLocaleString('en-US');
  const v = Number(value.toPrecision(3)); // so 9.996 shows as 10.0, not 10.00
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** Half the p10-p90 range as a percentage of the median ("" for a single run). */
export function spreadPercent(s: Summary): string {
  if (s.runs < 2 || s.median === 0) return '';
  const pct = ((s.p90 - s.p10) / 2 / Math.abs(s.median)) * 100;
  return `±${pct < 10 ? pct.toFixed(1) : Math.round(pct)}%`;
}

export function rowLabel(row: RowResult): string {
  return row.unit === 'count' ? row.label : `${row.label}, ${row.unit}`;
}

/** fiber ÷ generator, when both were measured on the same number of coroutines. */
export function ratio(row: RowResult): string {
  const f = row.values.fiber;
  const g = row.values.generator;
  if (row.unit === 'count' || f === undefined || g === undefined || f.note || g.note || g.median <= 0) return '';
  const r = f.median / g.median;
  return `${r >= 10 ? Math.round(r) : r.toFixed(r >= 1 ? 1 : 2)}×`;
}

const RATIO = 'fiber ÷ generator';

function pad(text: string, width: number, right: boolean): string {
  const gap = ' '.repeat(Math.max(0, width - [...text].length));
  return right ? gap + text : text + gap;
}

export function terminalTable(c: CaseResult): string {
  const impls = c.impls;
  const header = ['', ...impls.map((i) => implStyle(i).label), RATIO];
  const lines = c.rows.map((row) => [
    rowLabel(row),
    ...impls.map((i) => {
      const v = row.values[i];
      if (v === undefined) return '—';
      const spread = spreadPercent(v);
      return `${formatValue(v.median, row.unit)}${spread ? ` ${spread}` : ''}${v.note ? ` (${v.note})` : ''}`;
    }),
    ratio(row),
  ]);
  const widths = header.map((h, k) => Math.max([...h].length, ...lines.map((l) => [...l[k]!].length)));
  const render = (cells: string[]): string => cells.map((cell, k) => pad(cell, widths[k]!, k > 0)).join('  ').trimEnd();
  const out = [`${c.title} (${c.name}): per operation = ${c.operation}`];
  if (lines.length > 0) out.push(`  ${render(header)}`, ...lines.map((l) => `  ${render(l)}`));
  for (const note of c.notes) out.push(`  note: ${note}`);
  if (c.error) out.push(`  FAILED: ${c.error}`);
  return out.join('\n');
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

function markdownCell(v: RowResult['values'][string], unit: Unit, spread: boolean): string {
  if (v === undefined) return '—';
  let cell = formatValue(v.median, unit);
  if (spread && v.runs > 1) cell += ` <sub>${formatValue(v.p10, unit)}–${formatValue(v.p90, unit)}</sub>`;
  if (v.note) cell += ` (${v.note})`;
  return escapeCell(cell);
}

export function caseMarkdown(c: CaseResult): string {
  const out = [`## ${c.title}`, '', `\`${c.name}\` · one operation: ${c.operation}.`, ''];
  out.push(`| | ${c.impls.map((i) => implStyle(i).label).join(' | ')} | ${RATIO} |`);
  out.push(`|---|${c.impls.map(() => '---:').join('|')}|---:|`);
  for (const row of c.rows) {
    out.push(`| ${escapeCell(rowLabel(row))} | ${c.impls.map((i) => markdownCell(row.values[i], row.unit, true)).join(' | ')} | ${ratio(row)} |`);
  }
  const runs = new Set(c.rows.flatMap((r) => Object.values(r.values).map((v) => v?.runs ?? 0)));
  out.push('', `Median of ${[...runs].filter((n) => n > 0).sort((a, b) => a - b).join(' or ')} runs; small print: 10th–90th percentile.`);
  for (const note of c.notes) out.push(`- ${note}`);
  if (c.error) out.push('', `**This case failed:** ${escapeCell(c.error)}`);
  return out.join('\n');
}

export function machineMarkdown(r: Results): string {
  const m = r.machine;
  return [
    '| | |',
    '|---|---|',
    `| CPU | ${m.cpu}, ${m.cores} cores |`,
    `| Memory | ${m.memory} |`,
    `| OS | ${m.os} (${m.kernel}) |`,
    `| Node | ${m.node} (V8 ${m.v8}) |`,
    `| vm.max_map_count | ${m.maxMapCount} |`,
    `| stackful | ${m.commit} (${m.stackful}) |`,
    `| load average (1 min), start → end | ${m.load} |`,
    `| date | ${r.date} |`,
  ].join('\n');
}

export function resultsMarkdown(r: Results, chartFile: string): string {
  const how = r.mode === 'quick' ? '`npm run bench -- --quick` (short counts: a smoke test, not numbers to quote)' : '`npm run bench`';
  return [
    '# stackful benchmark results',
    '',
    `Written by ${how}${r.filter ? ` with \`--filter ${r.filter}\`` : ''} in ${Math.round(r.seconds)} s. Do not edit: run it again.`,
    '',
    machineMarkdown(r),
    '',
    `![fiber vs generator vs async/await, one panel per case](${chartFile})`,
    '',
    ...r.cases.flatMap((c) => [caseMarkdown(c), '']),
  ].join('\n');
}

/**
 * The short table for README.md: every row, medians only. `links` are paths
 * in the repository; `base`, when given, is the URL they are made absolute
 * against (README.md is also the package's page on npm, where files that are
 * not in the package cannot be linked relatively).
 */
export function summaryMarkdown(r: Results, links: { details: string; chart: string; base?: { blob: string; raw: string } }): string {
  const impls = sortImpls(r.cases.flatMap((c) => c.impls));
  const out = [
    `Measured by \`npm run bench\` on ${r.date.slice(0, 10)}: ${machineLine(r.machine)}.`,
    `Medians per operation; spreads, counts and notes in [${links.details}](${links.base ? links.base.blob : ''}${links.details}).`,
    '',
    `| case | per operation | ${impls.map((i) => implStyle(i).label).join(' | ')} | ${RATIO} |`,
    `|---|---|${impls.map(() => '---:').join('|')}|---:|`,
  ];
  for (const c of r.cases) {
    for (const row of c.rows) {
      out.push(`| ${c.name} | ${escapeCell(rowLabel(row))} | ${impls.map((i) => markdownCell(row.values[i], row.unit, false)).join(' | ')} | ${ratio(row)} |`);
    }
  }
  out.push('', `![fiber vs generator vs async/await](${links.base ? links.base.raw : ''}${links.chart})`);
  return out.join('\n');
}
