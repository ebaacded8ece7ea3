// process.exit() inside a fiber exits the process, with its code, at once.
const Fiber = require('stackful/fibers');

const parked = Fiber(() => Fiber.yield());
parked.run(); // a suspended fiber does not keep the process from exiting
process.on('exit', (code) => {
  if (code === 0) process.stdout.write('pass\n');
});
setTimeout(function () {
  Fiber(function () {
    Fiber(function () {
      process.exit(0);
    }).run();
    console.log('fail: after exit in the inner fiber');
  }).run();
  console.log('fail: after exit');
}, 10);
