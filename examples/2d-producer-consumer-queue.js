// Tutorial section 5, as gevent code would write it: two greenlets and two
// queues. The tutorial's point is that the generator version needs no lock
// and no thread; so does this one: put() and get() park only the calling
// fiber, and the hub resumes the other.
//
//   node examples/2d-producer-consumer-queue.js
'use strict';
const { Queue, joinAll, runInFiber, spawn } = require('stackful');

const messages = new Queue(1); // bounded to one: the producer waits for the consumer
const answers = new Queue(1);

function consumer() {
  while (true) {
    const n = messages.get(); // parks this greenlet until a message is there
    if (n === null) return; // the producer closed the queue (its sentinel)
    console.log(`[CONSUMER] Consuming ${n}...`);
    answers.put('200 OK');
  }
}

function producer() {
  let n = 0;
  while (n < 5) {
    n = n + 1;
    console.log(`[PRODUCER] Producing ${n}...`);
    messages.put(n);
    const r = answers.get();
    console.log(`[PRODUCER] Consumer return: ${r}`);
  }
  messages.put(null); // like close(): tell the consumer there is no more
}

// The top level runs on the event loop's stack, which must never block:
// runInFiber() runs the main function in a greenlet and returns a promise.
runInFiber(() => {
  joinAll([spawn(consumer), spawn(producer)], { raiseError: true });
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
