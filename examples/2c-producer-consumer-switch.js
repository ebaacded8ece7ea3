// Tutorial section 5 once more, greenlet style: two fibers that switch to
// each other by name, passing a value each way (greenlet's switch()).
//
//   node examples/2c-producer-consumer-switch.js
//
// Neither side is the caller of the other: switch() is a symmetric transfer.
// The producer runs on the root fiber (the thread's own stack); the consumer
// is a fiber whose parent is the root.
'use strict';
const { Fiber } = require('stackful');

const producer = Fiber.current; // the root fiber: this script's top level

const consumer = new Fiber(() => {
  let n = producer.switch(''); // started: give the producer an empty first answer
  while (n) {
    console.log(`[CONSUMER] Consuming ${n}...`);
    n = producer.switch('200 OK'); // answer, and wait for the next message
  }
});

consumer.switch(); // start it: it switches back with its first answer
let n = 0;
while (n < 5) {
  n = n + 1;
  console.log(`[PRODUCER] Producing ${n}...`);
  const r = consumer.switch(n);
  console.log(`[PRODUCER] Consumer return: ${r}`);
}
consumer.kill(); // like close()
