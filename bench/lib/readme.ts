/**
 * Puts the generated summary into README.md between
 *   <!-- bench:start --> and <!-- bench:end -->
 * (or another pair of markers: bench/arm64.ts has its own)
 * so the numbers there come from a run, never from typing. Does nothing when
 * the file or either marker is missing.
 */
import * as fs from 'node:fs';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

export type ReadmeUpdate = 'updated' | 'unchanged' | 'no README' | 'no markers';

export function updateReadmeBlock(file: string, markdown: string, startMarker = START, endMarker = END): ReadmeUpdate {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return 'no README';
  }
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker, start + startMarker.length);
  if (start === -1 || end === -1) return 'no markers';
  const next = `${text.slice(0, start + startMarker.length)}\n${markdown.trim()}\n${text.slice(end)}`;
  if (next === text) return 'unchanged';
  fs.writeFileSync(`${file}.tmp`, next);
  fs.renameSync(`${file}.tmp`, file);
  return 'updated';
}
