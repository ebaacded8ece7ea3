// Tutorial section 5 again, with a fiber instead of a generator
// (node-fibers style: run(value) resumes it, Fiber.yield(value) comes back).
//
//   node examples/2b-producer-consumer-fiber.js
//
// The difference from the generator: the consumer waits for its next message
// in receive(), an ordinary function it calls. A generator cannot do that
// (`yield` is only allowed in its own body); a fiber can suspend from any
// depth of plain calls, because it has a stack of its own.
'use strict';
const { Fiber } = require('stackful');

// Hands `answer` back to the producer, and returns the producer's next message.
function receive(answer) {
  return Fiber.yield(answer);
}

function consumer() {
  let r = '';
  while (true) {
    const n = receive(r);
    if (!n) return;
    console.log(`[CONSUMER] Consuming ${n}...`);
    r = '200 OK';
  }
}

function produce(c) {
  c.run(); // start it: it runs up to its first receive()
  let n = 0;
  while (n < 5) {
    n = n + 1;
    console.log(`[PRODUCER] Producing ${n}...`);
    const r = c.run(n); // like send(n)
    console.log(`[PRODUCER] Consumer return: ${r}`);
  }
  // Like close(): kill() throws FiberExit at the consumer's receive(), its
  // finally blocks run, and it is dead when kill() returns.
  c.kill();
}

produce(new Fiber(consumer));
