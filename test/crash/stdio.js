// console.log inside fibers, with stdout a file or a pipe (the test chooses),
// under the IO hooks: writes to stdout/stderr never park.
// Run with --require stackful/register. Usage: stdio.js <kill|pool> [fifo dir]
//   kill  a greenlet logging nonstop is killed; the root's lines after it all arrive, in order
//   pool  libuv's thread pool is busy with 4 reads that block; a fiber's console.log
//         (and console.error) still completes before they are released
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { getOriginal } = require('stackful/patch');
const { spawn, sleep } = require('stackful');

const mode = process.argv[2];

if (mode === 'kill') {
  let count = 0;
  const g = spawn(() => {
    for (let i = 0; i < 100_000; i++) {
      console.log(`fiber ${i}`);
      count++;
      if (i % 10 === 9) sleep(0);
    }
  });
  // The root kills it once it has logged a while, mid-way between two sleep(0)s: each
  // console.log used to park it in fs.writeSync, where the kill then errored process.stdout.
  const poll = () => {
    if (count < 195 && !g.dead) return setImmediate(poll);
    g.kill();
    console.log(`root: killed after ${count} lines, dead ${g.dead}`);
    for (let i = 0; i < 10; i++) console.log(`root ${i}`);
    console.error('root: stderr');
    console.log('root: end');
  };
  setImmediate(poll);
} else if (mode === 'pool') {
  const dir = process.argv[3];
  const fifos = [0, 1, 2, 3].map((i) => path.join(dir, `fifo-${i}`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  // Four fibers each hold a thread-pool thread in open() of a FIFO nobody writes yet.
  const readers = fifos.map((fifo) => spawn(() => fs.readFileSync(fifo, 'utf8')));
  let logged = false;
  spawn(() => {
    sleep(50); // the four opens are on the pool by now
    console.log('fiber: logged while the pool is busy');
    console.error('fiber: to stderr while the pool is busy');
    logged = true;
  });
  // Release the pool once the fiber has logged, or after 5 s at most.
  const started = Date.now();
  const release = () => {
    if (!logged && Date.now() - started < 5000) return setTimeout(release, 10);
    console.log(`root: logged before release: ${logged}`);
    const openSync = getOriginal(fs, 'openSync');
    const writeSync = getOriginal(fs, 'writeSync');
    const closeSync = getOriginal(fs, 'closeSync');
    for (const fifo of fifos) {
      const fd = openSync(fifo, 'w');
      writeSync(fd, path.basename(fifo));
      closeSync(fd);
    }
    Promise.all(readers).then((texts) => console.log(`root: readers got ${texts.join(',')}`));
  };
  setTimeout(release, 10);
}
