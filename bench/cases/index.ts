/**
 * Every benchmark case, in the order they run and are shown. A case is one
 * file in this folder (see types.ts, CaseModule); to add one, write the file
 * and add a line here.
 *
 * Room for the hub and IO cases, once src/hub.ts, src/sync and src/io exist:
 *   'sleep-zero'     sleep(0) among 1,000 fibers on the hub, against setImmediate + async
 *   'queue'          Queue producer/consumer through the hub, against an async queue
 *   'read-file-sync' patched fs.readFileSync inside fibers, against fs.promises.readFile
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
];

export function findCase(name: string): CaseEntry {
  const entry = cases.find((c) => c.name === name);
  if (entry === undefined) throw new Error(`no benchmark case named ${JSON.stringify(name)}; cases: ${cases.map((c) => c.name).join(', ')}`);
  return entry;
}
