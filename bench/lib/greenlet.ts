/**
 * The optional greenlet column of ping-pong: runs bench/greenlet/ping_pong.py
 * with the system Python when it can import greenlet, and says so when not.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { Context } from './harness.js';

/** BENCH_PYTHON overrides it (e.g. BENCH_PYTHON=/nonexistent to check the skip path). */
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(__dirname, '..', 'greenlet', 'ping_pong.py');

export interface GreenletRows {
  roundTrip: string;
  switch: string;
  createFinish: string;
}

export function runGreenlet(ctx: Context, rows: GreenletRows, roundTrips: number, creates: number): void {
  const probe = spawnSync(PYTHON, ['-c', 'import greenlet'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    ctx.note(`greenlet column skipped: \`${PYTHON} -c "import greenlet"\` failed (install python3-greenlet to add it)`);
    return;
  }
  const runs = ctx.pick(5, 15);
  const warmups = ctx.pick(1, 3);
  const child = spawnSync(PYTHON, [SCRIPT, String(roundTrips), String(creates), String(runs), String(warmups)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) {
    throw new Error(`bench/greenlet/ping_pong.py failed (status ${child.status}, signal ${child.signal}):\n${child.stderr}`);
  }
  const out = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, number[]> & { python: string; greenlet: string };
  const trips = out['round trip']!;
  ctx.record({ row: rows.roundTrip, unit: 'ns', impl: 'greenlet', samples: trips, ops: roundTrips });
  ctx.record({ row: rows.switch, unit: 'ns', impl: 'greenlet', samples: trips.map((ns) => ns / 2), chart: false });
  ctx.record({ row: rows.createFinish, unit: 'ns', impl: 'greenlet', samples: out['create + finish']!, ops: creates });
  ctx.note(`greenlet: Python ${out.python}, greenlet ${out.greenlet}, timed in its own process with time.perf_counter_ns(); its numbers include CPython's loop overhead`);
}
