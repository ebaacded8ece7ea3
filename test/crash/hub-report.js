// Reports that the hub prints on stderr.
// Usage: hub-report.js <blocked|blocked-recorded|blocked-join|unjoined|handled|listener>
'use strict';
const { setSpawnSites, spawn, sleep, Waiter } = require('stackful');

const mode = process.argv[2];
if (mode === 'blocked-recorded') setSpawnSites(true);
if (mode === 'blocked' || mode === 'blocked-recorded') {
  spawn(function waitsForever() {
    new Waiter().wait('Queue.get');
  });
  spawn(function finishes() {
    sleep(1);
  });
} else if (mode === 'blocked-join') {
  const forever = spawn(function waitsForever() {
    new Waiter().wait('Queue.get');
  });
  spawn(function joiner() {
    forever.join();
  });
} else if (mode === 'unjoined') {
  spawn(function fails() {
    throw new Error('nobody is listening');
  });
} else if (mode === 'handled') {
  const g = spawn(function fails() {
    throw new Error('someone joins');
  });
  spawn(() => {
    g.join();
    console.log(`joined: ${g.exception.message}`);
  });
} else if (mode === 'listener') {
  process.on('greenletError', (err, g) => console.log(`greenletError: ${err.message} from ${g}`));
  spawn(function fails() {
    throw new Error('to the listener');
  });
}
