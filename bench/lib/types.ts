/**
 * What the runner (bench/run.ts) and the child that runs one case
 * (bench/child.ts) say to each other, and what ends up in results/*.json.
 */

export type Mode = 'quick' | 'full';

/** Units a row can be measured in; every time and size is stored in its row's unit. */
export type Unit = 'ns' | 'µs' | 'ms' | 'bytes' | 'count' | 'req/s';

/** What a case file exports (bench/cases/<name>.ts). */
export interface CaseModule {
  about: CaseAbout;
  /**
   * The child processes this case needs, one JSON-able parameter object each
   * (default: one process with `{}`). Memory and GC numbers want a fresh heap
   * per implementation and per count, so those cases ask for one process each.
   */
  jobs?(mode: Mode): JobParams[];
  /** Runs in the child: measures and records cells through `ctx`. */
  measure(ctx: import('./harness.js').Context, params: JobParams): Promise<void>;
}

export interface CaseAbout {
  title: string;
  /** What one operation is, in words: every number in the case is per one of these. */
  operation: string;
}

export type JobParams = Record<string, string | number | boolean>;

/** One measurement: a row of the case's table, one implementation's column. */
export interface Cell {
  row: string;
  unit: Unit;
  impl: string;
  /** Per-operation values, one per run, in `unit`. */
  samples: number[];
  /** Operations timed per run (for times), or coroutines measured (for sizes). */
  ops?: number;
  /** Shown beside the number: e.g. a count that fell short of the target. */
  note?: string;
  /** false: shown in tables, left out of the chart (counts, derived rows). */
  chart?: boolean;
  /** Where the row goes among the case's rows (default: the order rows first appear in). */
  order?: number;
}

/** What a child prints as its last line of stdout. */
export interface JobResult {
  cells: Cell[];
  notes: string[];
}

export interface Summary {
  median: number;
  p10: number;
  p90: number;
  min: number;
  max: number;
  runs: number;
}

export interface RowResult {
  label: string;
  unit: Unit;
  chart: boolean;
  values: Record<string, (Summary & { ops?: number; note?: string; samples: number[] }) | undefined>;
}

export interface CaseResult {
  name: string;
  title: string;
  operation: string;
  /** Implementations in column order. */
  impls: string[];
  rows: RowResult[];
  notes: string[];
  /** Set when a child failed: what it printed on stderr, shortened. */
  error?: string;
  seconds: number;
}

export interface Machine {
  cpu: string;
  cores: number;
  memory: string;
  os: string;
  kernel: string;
  node: string;
  v8: string;
  stackful: string;
  maxMapCount: string;
  commit: string;
  /** The 1-minute load average when the run started and when it ended: other work on the machine skews timings. */
  load: string;
}

export interface Results {
  date: string;
  mode: Mode;
  filter: string | null;
  machine: Machine;
  seconds: number;
  cases: CaseResult[];
}
