// Compiled (not run) by test/fibers.test.ts: what a TypeScript user of
// stackful/fibers and stackful/future writes type-checks, and misuse does not.
import Fiber = require('stackful/fibers');
import Future = require('stackful/future');

const fiber: Fiber = Fiber((start: number) => Fiber.yield(start + 1));
const alsoFiber: Fiber = new Fiber(() => undefined);
const first: number = fiber.run(1);
fiber.throwInto(new Error('stop'));
fiber.reset();
const started: boolean = alsoFiber.started;
fiber._meteor_dynamics = [];
const current: Fiber | undefined = Fiber.current;
Fiber.poolSize = 10;
const created: number = Fiber.fibersCreated;
// @ts-expect-error fibersCreated is read-only
Fiber.fibersCreated = 1;
// @ts-expect-error run() takes one value at most
fiber.run(1, 2);

const future: Future<string> = new Future<string>();
future.return('x');
const value: string = future.wait();
const got: string = future.get();
future.resolve((err, v) => void [err, v]).resolveSuccess((v: string) => void v);
const proxied = new Future<string>();
future.proxy(proxied);
const asPromise: Promise<string> = future.promise();
const fromPromise: Future<number> = Future.fromPromise(Promise.resolve(1));
const readFile = Future.wrap((path: string, cb: (err: Error | null, data?: string) => void) => cb(null, path));
const wrapped: Future = readFile('x');
const task: Future<number> = Future.task(() => 1);
Future.wait(future, [proxied, fromPromise]);
const later = function (a: number) {
  return a;
}.future();
const fromFunction: Future = later(1);
// @ts-expect-error Future.wait() takes futures
Future.wait(1);

void [first, started, current, created, value, got, asPromise, wrapped, task, fromFunction];
