// Child processes started from inside fibers, and a child that uses fibers
// itself (node-fibers gh-1, gh-20).
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const Fiber = require('stackful/fibers');

if (process.argv[2] === 'child') {
  const fn = Fiber(function () {
    Fiber.yield('pa');
    return 'ss';
  });
  const r1 = fn.run();
  const r2 = fn.run();
  console.log(r1 + r2);
  return;
}

let out = '';
Fiber(function () {
  const fiber = Fiber.current;
  // exec() from a fiber; the fiber waits for its callback.
  childProcess.exec('echo from-exec', (err, stdout) => fiber.run([err, stdout]));
  const [err, stdout] = Fiber.yield();
  assert.equal(err, null);
  assert.equal(stdout, 'from-exec\n');
  // execFileSync() in a fiber blocks as it does anywhere.
  assert.equal(childProcess.execFileSync(process.execPath, ['-p', '6 * 7'], { encoding: 'utf8' }), '42\n');
  // spawn() of a Node child that runs fibers.
  const proc = childProcess.spawn(process.execPath, [__filename, 'child'], { env: process.env });
  proc.stdout.on('data', (data) => (out += data));
  proc.stderr.on('data', (data) => (out += data));
  proc.on('close', (code) => fiber.run(code));
  assert.equal(Fiber.yield(), 0);
  assert.equal(out, 'pass\n');
  process.stdout.write(out);
}).run();
