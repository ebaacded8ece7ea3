// Loaded with --require stackful/register: fs functions captured at the top of
// a module, before any fiber exists, still yield inside fibers.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');
const { spawn, joinAll, runInFiber } = require('stackful');

const fifo = path.join(os.tmpdir(), `stackful-fifo-${process.pid}`);
execFileSync('mkfifo', [fifo]);
const log = [];
const ticker = setInterval(() => log.push('tick'), 2);
runInFiber(() => {
  const reader = spawn(() => readFileSync(fifo, 'utf8'));        // blocks until written
  const writer = spawn(() => {
    const t = Date.now();
    while (Date.now() - t < 1); // let the reader start first
    require('stackful').sleep(20);                              // timers keep firing meanwhile
    writeFileSync(fifo, 'through the pipe');
  });
  joinAll([reader, writer], { raiseError: true });
  return reader.value;
}).then((text) => {
  clearInterval(ticker);
  require('node:fs').unlinkSync(fifo);
  console.log(JSON.stringify({ text, ticks: log.length > 0 }));
});
