/**
 * The SVG chart of a run, drawn here with no library: one panel per case,
 * one group of horizontal bars per row, one bar per implementation, on a
 * log scale (fibers and generators differ by orders of magnitude), with the
 * 10th-90th percentile as a whisker and the median written at the bar's end.
 */
import { implStyle, sortImpls } from './impls.js';
import { formatValue, rowLabel } from './report.js';
import type { CaseResult, Results, RowResult, Unit } from './types.js';

const WIDTH = 1000;
const LABEL_W = 290; // row labels, left of the plot
const PLOT_X = LABEL_W + 10;
const PLOT_W = 560;
const BAR_H = 13;
const BAR_GAP = 3;
const GROUP_GAP = 14;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

const UNIT_WORDS: Record<Unit, string> = {
  ns: 'nanoseconds',
  µs: 'microseconds',
  ms: 'milliseconds',
  bytes: 'bytes',
  count: 'count',
  'req/s': 'requests per second',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Splits a label into lines of at most `max` characters, at spaces. */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function chartedRows(c: CaseResult): RowResult[] {
  return c.rows.filter((r) => r.chart && Object.values(r.values).some((v) => v !== undefined && v.median > 0));
}

function decadeTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) ticks.push(10 ** e);
  return ticks;
}

function tickLabel(value: number): string {
  if (value >= 1) return value.toLocaleString('en-US');
  return String(Number(value.toPrecision(1)));
}

function panel(c: CaseResult, top: number): { svg: string; height: number } {
  const rows = chartedRows(c);
  if (rows.length === 0) return { svg: '', height: 0 };
  const unit = rows[0]!.unit;
  const values = rows.flatMap((r) => Object.values(r.values).flatMap((v) => (v && v.median > 0 ? [v.median, v.p10, v.p90] : [])));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values.filter((v) => v > 0))));
  let hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  if (hi <= lo) hi = lo * 10;
  const x = (v: number): number => PLOT_X + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PLOT_W;

  const parts: string[] = [];
  let y = top;
  parts.push(`<text x="16" y="${y + 16}" font-size="16" font-weight="bold">${esc(c.title)}</text>`);
  parts.push(`<text x="16" y="${y + 34}" font-size="12" fill="#444">${esc(`per operation: ${c.operation}`)}</text>`);
  y += 48;
  const plotTop = y;
  const groups: string[] = [];
  for (const row of rows) {
    const impls = sortImpls(Object.keys(row.values)).filter((i) => row.values[i] !== undefined);
    const groupH = impls.length * (BAR_H + BAR_GAP) - BAR_GAP;
    const label = wrap(row.unit === unit ? row.label : rowLabel(row), 40);
    const labelTop = y + groupH / 2 - (label.length - 1) * 7 + 4;
    label.forEach((line, k) => groups.push(`<text x="${LABEL_W}" y="${labelTop + k * 14}" font-size="12" text-anchor="end">${esc(line)}</text>`));
    impls.forEach((impl, k) => {
      const v = row.values[impl]!;
      const by = y + k * (BAR_H + BAR_GAP);
      const end = x(v.median);
      const style = implStyle(impl);
      groups.push(`<rect x="${PLOT_X}" y="${by}" width="${(end - PLOT_X).toFixed(1)}" height="${BAR_H}" fill="${style.color}"><title>${esc(`${style.label}: ${formatValue(v.median, row.unit)} ${row.unit}`)}</title></rect>`);
      let textX = end;
      if (v.runs > 1 && v.p90 > v.p10) {
        const a = x(v.p10);
        const b = x(v.p90);
        const mid = by + BAR_H / 2;
        groups.push(`<path d="M${a.toFixed(1)} ${mid}H${b.toFixed(1)}M${a.toFixed(1)} ${mid - 4}v8M${b.toFixed(1)} ${mid - 4}v8" stroke="#222" stroke-width="1.2" fill="none"/>`);
        textX = Math.max(textX, b);
      }
      const text = `${formatValue(v.median, row.unit)}${v.note ? ` (${v.note})` : ''}`;
      groups.push(`<text x="${(textX + 5).toFixed(1)}" y="${by + BAR_H - 2}" font-size="11">${esc(text)}</text>`);
    });
    y += groupH + GROUP_GAP;
  }
  const plotBottom = y - GROUP_GAP + 6;
  for (const tick of decadeTicks(lo, hi)) {
    const tx = x(tick).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${plotTop - 4}" x2="${tx}" y2="${plotBottom}" stroke="#ddd"/>`);
    parts.push(`<text x="${tx}" y="${plotBottom + 14}" font-size="11" text-anchor="middle" fill="#444">${tickLabel(tick)}</text>`);
  }
  parts.push(`<line x1="${PLOT_X}" y1="${plotTop - 4}" x2="${PLOT_X}" y2="${plotBottom}" stroke="#888"/>`);
  parts.push(...groups);
  parts.push(`<text x="${PLOT_X + PLOT_W / 2}" y="${plotBottom + 30}" font-size="12" text-anchor="middle" fill="#444">${esc(`${UNIT_WORDS[unit]}, log scale; ${unit === 'req/s' ? 'longer' : 'shorter'} is better`)}</text>`);
  return { svg: parts.join('\n'), height: plotBottom + 44 - top };
}

export function renderChart(r: Results, detailsFile: string): string {
  const impls = sortImpls(r.cases.flatMap((c) => c.impls));
  const parts: string[] = [];
  parts.push(`<text x="16" y="28" font-size="20" font-weight="bold">stackful: fibers vs generators vs async/await${r.mode === 'quick' ? ' (--quick: short counts)' : ''}</text>`);
  const m = r.machine;
  const lines = [
    `${m.cpu}, ${m.cores} cores, ${m.memory} · ${m.os} (${m.kernel})`,
    `Node ${m.node}, V8 ${m.v8} · stackful ${m.commit} · ${r.date} · load average ${m.load}`,
    `bars: median of the runs; whiskers: 10th to 90th percentile · every number: bench/results/${detailsFile}`,
  ];
  lines.forEach((line, k) => parts.push(`<text x="16" y="${48 + k * 15}" font-size="11" fill="#444">${esc(line)}</text>`));
  // The legend, wrapped onto more lines when it would run past the right edge.
  let lx = 16;
  let ly = 92;
  for (const impl of impls) {
    const style = implStyle(impl);
    const width = 20 + style.label.length * 7.5 + 22;
    if (lx > 16 && lx + width - 22 > WIDTH - 16) {
      lx = 16;
      ly += 22;
    }
    parts.push(`<rect x="${lx}" y="${ly}" width="14" height="14" fill="${style.color}"/>`);
    parts.push(`<text x="${lx + 20}" y="${ly + 12}" font-size="13">${esc(style.label)}</text>`);
    lx += width;
  }
  let y = ly + 34;
  for (const c of r.cases) {
    const p = panel(c, y);
    if (p.height === 0) continue;
    parts.push(`<line x1="16" y1="${y - 6}" x2="${WIDTH - 16}" y2="${y - 6}" stroke="#bbb"/>`);
    parts.push(p.svg);
    y += p.height + 16;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
