/**
 * Stretches of code that must run to their end on the stack they started on,
 * where no fiber may switch:
 *
 *  - a `vm` run with a `timeout` or `breakOnSigint` (vm.runInNewContext,
 *    runInContext, runInThisContext, vm.Script#runIn*Context, vm.Module#evaluate).
 *    Node's watchdog for it calls V8's TerminateExecution when it fires, which
 *    stops whatever JavaScript the thread runs then: had the fiber switched
 *    out, that would be the hub or another fiber (the main script ended
 *    silently with exit code 0: issue #15.2). Making the timeout apply to the
 *    fiber alone would need a watchdog that pauses while the fiber is
 *    switched out, and Node's is native and cannot be paused; so switching is
 *    refused instead (FiberError ERR_FIBER_VM_TIMEOUT), and the IO hooks run
 *    Node's own blocking functions meanwhile.
 *  - `process.exit()`: its 'exit' listeners run on the stack that called it,
 *    as on a thread, and then the process ends. A listener that parked or
 *    switched would let the event loop and timers run on during exit and
 *    make process.exit() return to its caller (issue #15.4); so from the
 *    moment process.exit() is called no fiber switches (FiberError
 *    ERR_PROCESS_EXITING), the IO hooks run Node's own functions, and should
 *    a listener throw, the error is printed and the process ends with the
 *    exit code all the same.
 *
 * Switches are refused by a guard that Fiber consults before every transfer
 * (setSwitchGuard in fiber.ts), set only while such a stretch runs: the rest
 * of the time the switch path pays one check of an unset variable.
 *
 * Import side effect: process.exit and the vm methods are wrapped when this
 * module loads (stackful's import), not when the first fiber is made. A call
 * already under way when it is made (an 'exit' listener, or the REPL's
 * input, run with `breakOnSigint`, that makes the first fiber) could not be
 * wrapped any more, and its fiber could switch where it must not. The
 * wrappers cost one options check per vm call; README "What loading stackful
 * changes" lists this with the two side effects that do wait for fibers.
 */
import { isMainThread } from 'node:worker_threads';
import { inspect } from 'node:util';
import * as vm from 'node:vm';
import { FiberError } from './errors.js';
import { Fiber, setSwitchGuard } from './fiber.js';

type AnyFunction = (...args: any[]) => any;

/** How many timed vm runs are on the running fiber's stack (only it can be inside one: it cannot switch). */
let vmDepth = 0;
/** Set for good once process.exit() is called. */
let exiting = false;

/**
 * Whether the IO hooks may park the running fiber: not on the root, not in a
 * timed vm run, not while the process exits (there they run Node's own
 * blocking function, as an 'exit' listener must finish synchronously).
 */
export function mayPark(): boolean {
  return Fiber.current !== Fiber.root && vmDepth === 0 && !exiting && (process as { _exiting?: boolean })._exiting !== true;
}

function describe(fiber: Fiber): string {
  const text = String(fiber);
  return text.startsWith('Fiber') ? `f${text.slice(1)}` : text;
}

function refuse(verb: string, target: Fiber | undefined): never {
  const current = Fiber.current;
  const what = target === undefined ? `${verb} ${describe(current)}` : `${verb} ${describe(target)} from ${describe(current)}`;
  if (exiting) {
    throw new FiberError(
      'ERR_PROCESS_EXITING',
      `cannot ${what}: the process is exiting (process.exit() was called), and its 'exit' listeners run to their end on the stack that called it; do this work before calling process.exit()`,
    );
  }
  throw new FiberError(
    'ERR_FIBER_VM_TIMEOUT',
    `cannot ${what}: ${describe(current)} is running vm code with a \`timeout\` or \`breakOnSigint\`, whose watchdog stops whatever JavaScript runs when it fires, not only this fiber (Node's REPL runs each input with \`breakOnSigint\`); let the vm call return first (spawn() and runInFiber() start fibers after it), or run it without \`timeout\`/\`breakOnSigint\``,
  );
}

// --- the switch guard --------------------------------------------------------

let guardOn = false;

/** While on, every transfer between fibers throws (see setSwitchGuard in fiber.ts). */
function setGuard(on: boolean): void {
  if (guardOn === on) return;
  guardOn = on;
  setSwitchGuard(on ? refuse : undefined);
}

// --- vm ---------------------------------------------------------------------

function timed(options: unknown): boolean {
  if (options === null || typeof options !== 'object') return false;
  const { timeout, breakOnSigint } = options as { timeout?: unknown; breakOnSigint?: unknown };
  return timeout !== undefined || breakOnSigint === true;
}

/** Wraps `target[name]` so that a call whose options (argument `at`) ask for a watchdog runs with switching refused. */
function wrapVm(target: Record<string, AnyFunction> | undefined, name: string, at: number): void {
  const original = target?.[name];
  if (target === undefined || typeof original !== 'function') return;
  const method = {
    [name](this: unknown, ...args: unknown[]): unknown {
      if (!timed(args[at])) return original.apply(this, args);
      vmDepth++;
      setGuard(true);
      try {
        return original.apply(this, args);
      } finally {
        vmDepth--;
        if (vmDepth === 0 && !exiting) setGuard(false);
      }
    },
  }[name]!;
  Object.defineProperty(method, 'length', { value: original.length });
  target[name] = method;
}

// vm.runInNewContext / runInContext / runInThisContext and Script#runInNewContext
// all end in Script#runInContext or Script#runInThisContext (lib/vm.js, Node 20 to 26).
const scriptProto = vm.Script.prototype as unknown as Record<string, AnyFunction>;
wrapVm(scriptProto, 'runInContext', 1);
wrapVm(scriptProto, 'runInThisContext', 0);
// vm.Module exists with --experimental-vm-modules; evaluate() runs the module body before it returns its promise.
wrapVm((vm as unknown as { Module?: { prototype: Record<string, AnyFunction> } }).Module?.prototype, 'evaluate', 0);

// --- process.exit() ------------------------------------------------------------

const nodeExit = process.exit;

function exitCode(): number {
  const code = Number(process.exitCode ?? 0);
  return Number.isInteger(code) ? code : 1;
}

process.exit = function exit(this: unknown, ...args: unknown[]): never {
  exiting = true;
  setGuard(true);
  const reallyExit = (process as { reallyExit?: (code: number) => void }).reallyExit;
  try {
    // On the main thread this does not return; on a worker it stops the thread and returns.
    nodeExit.apply(process, args as [number]);
  } catch (err) {
    if ((process as { _exiting?: boolean })._exiting !== true) {
      // A bad exit code (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE): Node throws
      // before it begins to exit, and the program goes on, switching again.
      exiting = false;
      if (vmDepth === 0) setGuard(false);
      throw err;
    }
    // An 'exit' listener threw (or tried to switch): Node lets that out of
    // process.exit(), and in a fiber the program would run on. Say so, and exit.
    if (!isMainThread || typeof reallyExit !== 'function') throw err;
    try {
      process.stderr.write(`stackful: an 'exit' listener threw; the process exits with code ${exitCode()} all the same:\n${inspect(err)}\n`);
    } finally {
      reallyExit.call(process, exitCode());
    }
  }
  return undefined as never;
} as typeof process.exit;
