// Tutorial section 5: producer and consumer, with a generator, as in the
// tutorial's Python (next() to start it, send(n) to hand over a message,
// close() to end it).
//
//   node examples/2a-producer-consumer-generator.js
//
// JavaScript has the same thing built in: next() is both next() and send(),
// return() is close(). The limit, as in Python: `yield` can only appear in the
// generator's own body, not in a function it calls (compare
// 2b-producer-consumer-fiber.js). No stackful here: this is the baseline.
'use strict';

function* consumer() {
  let r = '';
  while (true) {
    const n = yield r;
    if (!n) return;
    console.log(`[CONSUMER] Consuming ${n}...`);
    // (the tutorial sleeps a second here, standing for the work)
    r = '200 OK';
  }
}

function produce(c) {
  c.next(); // start it: run to the first yield
  let n = 0;
  while (n < 5) {
    n = n + 1;
    console.log(`[PRODUCER] Producing ${n}...`);
    const r = c.next(n).value; // send(n)
    console.log(`[PRODUCER] Consumer return: ${r}`);
  }
  c.return(); // close()
}

produce(consumer());
