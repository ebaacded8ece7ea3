/**
 * Runs one job of one case in this (fresh) process and prints its cells as one
 * JSON line on stdout, the last line; the runner (bench/run.ts) starts it as
 *   node --expose-gc --import tsx bench/child.ts <case> <quick|full> '<params JSON>'
 * Nothing else may write to stdout.
 */
import { findCase } from './cases/index.js';
import { Context } from './lib/harness.js';
import type { JobParams, JobResult, Mode } from './lib/types.js';

async function main(): Promise<void> {
  const [name, mode, params = '{}'] = process.argv.slice(2);
  if (name === undefined || (mode !== 'quick' && mode !== 'full')) {
    throw new Error('usage: node --expose-gc --import tsx bench/child.ts <case> <quick|full> [params JSON]');
  }
  const parsed = JSON.parse(params) as Record<string, unknown>;
  // A job may ask for a setting the addon reads when it loads (STACKFUL_SWITCH)
  // or at its first scavenge (STACKFUL_YOUNG_GC), which can come before any
  // code of the case runs: both are set before stackful is imported.
  if (typeof parsed.switch === 'string') process.env.STACKFUL_SWITCH = parsed.switch;
  if (typeof parsed.youngGc === 'string') process.env.STACKFUL_YOUNG_GC = parsed.youngGc;
  const mod = await findCase(name).load();
  const ctx = new Context(mode as Mode);
  await mod.measure(ctx, parsed as JobParams);
  const result: JobResult = { cells: ctx.cells, notes: ctx.notes };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
