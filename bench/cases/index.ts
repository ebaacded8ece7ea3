/**
 * Every benchmark case, in the order they run and are shown. A case is one
 * file in this folder (see types.ts, CaseModule); to add one, write the file
 * and add a line here.
 */
import type { CaseModule } from '../lib/types.js';

export interface CaseEntry {
  name: string;
  load(): Promise<CaseModule>;
}

export const cases: CaseEntry[] = [
  { name: 'producer-consumer', load: () => import('./producer-consumer.js') },
  { name: 'ping-pong', load: () => import('./ping-pong.js') },
  { name: 'create', load: () => import('./create.js') },
  { name: 'deep-stack', load: () => import('./deep-stack.js') },
  { name: 'memory', load: () => import('./memory.js') },
  { name: 'gc-pause', load: () => import('./gc-pause.js') },
  { name: 'sleep-zero', load: () => import('./sleep-zero.js') },
  { name: 'queue', load: () => import('./queue.js') },
  { name: 'read-file-sync', load: () => import('./read-file-sync.js') },
  { name: 'server', load: () => import('./server.js') },
];

export function findCase(name: string): CaseEntry {
  const entry = cases.find((c) => c.name === name);
  if (entry === undefined) throw new Error(`no benchmark case named ${JSON.stringify(name)}; cases: ${cases.map((c) => c.name).join(', ')}`);
  return entry;
}
