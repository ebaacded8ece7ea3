/** The machine the numbers were measured on, printed beside them. */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { runtime } from 'stackful';
import type { Machine } from './types.js';

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function cpuModel(): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(read('/proc/cpuinfo') ?? '');
  return match?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}

function osName(): string {
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(read('/etc/os-release') ?? '');
  return match?.[1] ?? `${os.type()} ${os.release()}`;
}

function commit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'native', 'binding.gyp'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (src/native modified)` : head;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(root: string): Machine {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: osName(),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    v8: process.versions.v8,
    stackful: runtime.supported ? 'supported' : `unsupported: ${runtime.reason}`,
    maxMapCount: read('/proc/sys/vm/max_map_count')?.trim() ?? 'unknown',
    commit: commit(root),
    load: os.loadavg()[0]!.toFixed(2),
  };
}

/** One line for a terminal or a markdown paragraph. */
export function machineLine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memory} · ${m.os} (${m.kernel}) · Node ${m.node}, V8 ${m.v8} · vm.max_map_count ${m.maxMapCount} · stackful ${m.commit}`;
}
