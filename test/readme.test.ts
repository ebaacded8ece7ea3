/**
 * Every ```js block of README.md runs, as written, in a fresh Node process:
 * it must exit 0 and write nothing to stderr. A block that cannot run alone
 * (a fragment, or one that needs a server) is marked on the line before it:
 *   <!-- not run: why -->
 * Keep those rare: each says where the runnable version lives.
 *
 * The blocks are written under .cache/readme/, inside this package, so that
 * `require('stackful')` resolves to it through package.json's "exports", as
 * it does in a user's project (a block using `import` becomes an .mjs file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

interface Block {
  line: number; // 1-based line of the opening fence
  code: string;
  skip?: string; // the reason given in <!-- not run: ... -->
}

function jsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,})(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!) && l.trim() === fence[1]);
    assert.ok(end > i, `README.md:${i + 1}: a code block that never closes`);
    if (fence[2] === 'js' || fence[2] === 'javascript') {
      const before = lines.slice(0, i).reverse().find((l) => l.trim() !== '') ?? '';
      const skip = /^<!--\s*not run:\s*(.+?)\s*-->$/.exec(before.trim())?.[1];
      blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join('\n'), ...(skip ? { skip } : {}) });
    }
    i = end;
  }
  return blocks;
}

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const BLOCKS = jsBlocks(README);
const DIR = path.join(ROOT, '.cache', 'readme');

describe('README.md code blocks', () => {
  before(() => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
  });

  after(() => rmSync(DIR, { recursive: true, force: true }));

  it('are mostly run: at most a quarter of the js blocks are marked "not run"', () => {
    assert.ok(BLOCKS.length > 0, 'no ```js block found in README.md');
    const skipped = BLOCKS.filter((b) => b.skip);
    assert.ok(skipped.length * 4 <= BLOCKS.length, `too many blocks marked not run: ${skipped.map((b) => `line ${b.line}`).join(', ')}`);
  });

  for (const block of BLOCKS) {
    const title = `the block at README.md:${block.line} (${block.code.split('\n').find((l) => l.trim() && !l.trim().startsWith('//'))?.trim().slice(0, 60)})`;
    if (block.skip) {
      it(`${title} is not run: ${block.skip}`);
      continue;
    }
    it(`${title} runs as written`, () => {
      const esm = /^\s*(import|export)\s/m.test(block.code);
      const file = path.join(DIR, `block-${block.line}.${esm ? 'mjs' : 'js'}`);
      writeFileSync(file, `${block.code}\n`);
      const r = spawnSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `README.md:${block.line} exited with ${r.status ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
      assert.equal(r.stderr, '', `README.md:${block.line} wrote to stderr`);
    });
  }
});
