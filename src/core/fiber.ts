/**
 * Fiber: a function running on its own machine stack.
 *
 * Two styles over one mechanism:
 *  - greenlet's symmetric `switch(...args)`: control goes to the target; the
 *    target's pending switch returns `args[0]`;
 *  - node-fibers' asymmetric `run(value)` / `Fiber.yield(value)`: the caller
 *    becomes the parent; yield goes back to it.
 * When a fiber's function returns, its value goes to its parent (the nearest
 * one still alive); when it throws, the exception is raised in the parent.
 *
 * Values never cross into C++: the fiber that switches leaves them in the
 * module-level transfer slot below, and the fiber that resumes takes them.
 */
import { setFlagsFromString } from 'node:v8';
import { threadId } from 'node:worker_threads';
import { applyView, captureView, contextInUse, installScopeHooks, swapView, type ContextView } from './context.js';
import { FiberError, FiberExit, invalidArgType, outOfRange } from './errors.js';
import { load, type Handle, type NativeStats } from './native.js';
import { settings } from './settings.js';

export type FiberState = 'new' | 'running' | 'suspended' | 'dead';

export interface FiberOptions {
  /** Shown in errors and in listFibers(). */
  name?: string;
  /** Bytes of address space for the stack (default 1 MiB; rounded up to pages). */
  stackSize?: number;
  /** Where the fiber's result goes when it finishes (default: the fiber that creates it). */
  parent?: Fiber;
}

export interface FiberInfo {
  id: number;
  name: string;
  state: FiberState;
  /** Stack trace of `new Fiber()`, when creation sites are recorded (see setTraceCreation). */
  createdAt: string | undefined;
}

// --- transfer slot ---------------------------------------------------------
let slotValue: unknown;
let slotError: unknown;
let slotThrows = false;
let slotArgs: unknown[] | undefined; // arguments for a fiber that starts

function put(value: unknown, args: unknown[] | undefined, throws: boolean, error: unknown): void {
  slotValue = value;
  slotArgs = args;
  slotThrows = throws;
  slotError = error;
}

function take(): unknown {
  const value = slotValue;
  const error = slotError;
  const throws = slotThrows;
  slotValue = slotError = slotArgs = undefined;
  slotThrows = false;
  if (throws) throw error;
  return value;
}

let traceCreation = settings.traceCreation;

/**
 * Set while no fiber may switch (src/core/guard.ts: process.exit(), a timed vm
 * run). Called before every transfer with what the caller tried; it throws.
 */
let switchGuard: ((verb: string, target: Fiber | undefined) => never) | undefined;

/** Installs or removes the switch guard (for src/core/guard.ts; not exported by the package). */
export function setSwitchGuard(guard: ((verb: string, target: Fiber | undefined) => never) | undefined): void {
  switchGuard = guard;
}

/**
 * Throws what the switch guard throws for a switch to `target`, if one is
 * set: for the hub, before it takes a ready fiber's turn to hand off to it.
 */
export function checkSwitchAllowed(target: Fiber): void {
  if (switchGuard !== undefined) switchGuard('switch to', target);
}

/** Records where each fiber is created, for listFibers(). Costs about a microsecond per fiber. */
export function setTraceCreation(enabled: boolean): void {
  traceCreation = enabled;
}

/**
 * What stackful changes in the process once fibers exist, done when the first
 * fiber (other than the root) is made, before any switch: importing stackful
 * alone changes nothing here (test/module.test.ts "import side effects").
 */
let firstFiberMade = false;
function onFirstFiber(): void {
  firstFiberMade = true;
  // V8's WebAssembly code GC aborts the process ("archived threads in
  // combination with wasm not supported") when it runs while any V8 thread
  // state is archived, that is while any fiber is suspended, the root
  // included. Node's fetch() parses HTTP with wasm and reached it within a
  // hundred requests. Without it, wasm code that tiering replaced stays
  // allocated until its module is collected. Off before the first switch is
  // soon enough for new code GCs (test/crash/wasm-code-gc.js, which also runs
  // wasm first), but one that started earlier may have left a task queued
  // that makes the same check when it runs: cancelled here, once V8 can start
  // no other (native/wasm_code_gc.h, test/crash/wasm-stale-task.js).
  setFlagsFromString('--no-wasm-code-gc');
  core.cancelWasmCodeGcTasks();
}

// Set by Fiber's static block, which may use its private members: what the
// hub needs of them, kept off Fiber's public surface.
let liveArray: () => Fiber[];
/** switch(value) without the arguments array a rest parameter makes on every call. */
let switchOne: (target: Fiber, value: unknown) => unknown;
let getHubRecord: (fiber: Fiber) => unknown;
let putHubRecord: (fiber: Fiber, record: unknown) => void;

let nextId = 1;
let core: ReturnType<typeof load>;
let mailbox: Float64Array;
/** Frees the native side of fibers that were created in an async context and never ran. */
const unstarted = new FinalizationRegistry<Handle>((handle) => core.discard(handle));
/** Passed to the constructor, once per thread, to build the root fiber. */
const ROOT = Symbol('stackful.root');

export class Fiber {
  static #current: Fiber;
  static #root: Fiber;
  static #starting: Fiber | undefined;
  /** Started and not finished: what listFibers() reports; also keeps them alive. */
  // An intrusive list (no hashing on the create/finish path), newest first.
  static #liveHead: Fiber | undefined;
  #liveNext: Fiber | undefined;
  #livePrev: Fiber | undefined;
  #isLive = false;

  readonly id: number;
  readonly name: string;
  /** The worker thread that owns this fiber (0 on the main thread); a fiber works only there. */
  readonly threadId: number = threadId;
  #fn: ((...args: any[]) => unknown) | undefined;
  /** Taken when the fiber first runs, so fibers that never run cost nothing natively. */
  #handle: Handle | undefined;
  #stackSize = 0;
  /** Its AsyncLocalStorage stores while suspended (Node 20/22; see context.ts). */
  #view: ContextView | undefined;
  #parent: Fiber | undefined;
  /** Whether any fiber was ever given this one as its parent: run() looks for a cycle only then. */
  #hasChildren = false;
  #state: FiberState = 'new';
  #site: { stack?: string } | undefined;
  /** What the hub keeps for this fiber's waits (src/hub/hub.ts): here, so a wait pays no WeakMap lookup. */
  #hubRecord: unknown = undefined;

  constructor(fn: (...args: any[]) => unknown, options: FiberOptions = {}) {
    if ((fn as unknown) === ROOT) {
      this.id = 0;
      this.name = 'root';
      this.#handle = core.root;
      this.#state = 'running';
      return;
    }
    if (typeof fn !== 'function') throw invalidArgType('fn', 'a function', fn);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    const { name, stackSize = core.defaultStackSize, parent } = options;
    if (name !== undefined && typeof name !== 'string') throw invalidArgType('name', 'a string', name);
    if (typeof stackSize !== 'number' || !Number.isInteger(stackSize)) {
      throw invalidArgType('stackSize', 'a positive integer', stackSize);
    }
    if (stackSize < core.minStackSize || stackSize > core.maxStackSize) {
      throw outOfRange('stackSize', `an integer from ${core.minStackSize} to ${core.maxStackSize} (bytes)`, stackSize);
    }
    if (parent !== undefined) checkFiber(parent, 'parent');
    if (!firstFiberMade) onFirstFiber();
    this.id = nextId++;
    this.name = name ?? '';
    this.#fn = fn;
    this.#parent = parent ?? Fiber.#current;
    this.#parent.#hasChildren = true;
    this.#stackSize = stackSize;
    if (contextInUse()) {
      // Runs in its creator's async context: capture it now.
      this.#handle = core.create(stackSize, true);
      this.#view = captureView();
      unstarted.register(this, this.#handle, this);
    }
    if (traceCreation) {
      this.#site = {};
      Error.captureStackTrace(this.#site, Fiber);
    }
  }

  /**
   * Whether `value` is a Fiber made by this class's constructor. Unlike
   * `instanceof`, it runs no user code and is not fooled by
   * `Object.create(Fiber.prototype)` or a Symbol.hasInstance.
   */
  static is(value: unknown): value is Fiber {
    return typeof value === 'object' && value !== null && #state in value;
  }

  /** The running fiber (the root fiber on the thread's own stack). */
  static get current(): Fiber {
    return Fiber.#current;
  }

  /** The root fiber of this thread: its own stack, where Node's event loop runs. */
  static get root(): Fiber {
    return Fiber.#root;
  }

  /** Goes back to the parent with `value`; returns the value of the next resume. */
  static yield(value?: unknown): unknown {
    const self = Fiber.#current;
    if (self === Fiber.#root) {
      throw new FiberError('ERR_NOT_IN_FIBER', 'cannot yield from the root fiber: there is no parent to go back to; call Fiber.yield() inside a fiber');
    }
    if (switchGuard !== undefined) switchGuard('yield from', undefined);
    return Fiber.#transfer(self.#liveParent(), value, undefined, false, undefined);
  }

  get parent(): Fiber | null {
    return this.#parent ?? null;
  }

  set parent(parent: Fiber) {
    if (!Fiber.is(this)) checkFiber(this, 'this');
    checkFiber(parent, 'parent');
    if (this === Fiber.#root) throw new FiberError('ERR_FIBER_ROOT', 'the root fiber has no parent and cannot be given one');
    for (let f: Fiber | undefined = parent; f !== undefined; f = f.#parent) {
      if (f === this) {
        throw new FiberError('ERR_FIBER_CYCLE', `cannot make ${parent.#describe()} the parent of ${this.#describe()}: ${parent === this ? 'a fiber cannot be its own parent' : 'it descends from it, and parents cannot form a cycle'}`);
      }
    }
    this.#parent = parent;
    parent.#hasChildren = true;
  }

  get state(): FiberState {
    return this.#state;
  }

  get started(): boolean {
    return this.#state !== 'new';
  }

  get dead(): boolean {
    return this.#state === 'dead';
  }

  /**
   * greenlet's switch: transfers control to this fiber. The first switch
   * starts `fn(...args)`; later ones make its pending switch/yield return
   * `args[0]`. Returns what is passed back when control returns here.
   */
  switch(...args: unknown[]): unknown {
    if (!Fiber.is(this)) checkFiber(this, 'this');
    this.#checkTarget('switch to');
    if (switchGuard !== undefined) switchGuard('switch to', this);
    return Fiber.#transfer(this, args[0], this.#state === 'new' ? args : undefined, false, undefined);
  }

  /** node-fibers' run: resumes this fiber as a child of the caller; returns what it yields or returns. */
  run(value?: unknown): unknown {
    if (!Fiber.is(this)) checkFiber(this, 'this');
    this.#checkTarget('run');
    if (switchGuard !== undefined) switchGuard('run', this);
    this.#adopt('run');
    return Fiber.#transfer(this, value, this.#state === 'new' ? [value] : undefined, false, undefined);
  }

  /**
   * Raises `err` (default: a FiberExit) at this fiber's suspension point. The
   * default applies only when no argument is given: throw(undefined) raises
   * undefined.
   */
  throw(...args: [err?: unknown]): unknown {
    if (!Fiber.is(this)) checkFiber(this, 'this');
    const err = args.length === 0 ? new FiberExit() : args[0];
    if (this === Fiber.#current) throw err;
    this.#checkTarget('throw into');
    if (switchGuard !== undefined) switchGuard('throw into', this);
    return Fiber.#transfer(this, undefined, [], true, err);
  }

  /**
   * Unwinds this fiber with a FiberExit (its `finally` blocks run) and returns
   * once it is dead. Killing a fiber that never started just marks it dead.
   */
  kill(): void {
    if (!Fiber.is(this)) checkFiber(this, 'this');
    if (this.#state === 'dead') return;
    if (this === Fiber.#root) throw new FiberError('ERR_FIBER_ROOT', 'cannot kill the root fiber');
    if (this === Fiber.#current) throw new FiberExit();
    if (this.#state === 'new') {
      if (this.#handle !== undefined) {
        unstarted.unregister(this);
        core.discard(this.#handle);
        this.#handle = undefined;
      }
      this.#finish();
      return;
    }
    if (switchGuard !== undefined) switchGuard('kill', this);
    this.#adopt('kill');
    Fiber.#transfer(this, undefined, [], true, new FiberExit());
    if ((this.#state as FiberState) !== 'dead') {
      throw new FiberError('ERR_FIBER_NOT_DEAD', `${this.#describe()} caught FiberExit and switched back instead of finishing; let FiberExit propagate out of the fiber`);
    }
  }

  toString(): string {
    const d = this.#describe();
    return d.startsWith('fiber') ? `Fiber${d.slice(5)}` : d;
  }

  // --- internals -----------------------------------------------------------

  #describe(): string {
    if (this === Fiber.#root) return 'the root fiber';
    return this.name ? `fiber #${this.id} (${JSON.stringify(this.name)})` : `fiber #${this.id}`;
  }

  #checkTarget(verb: string): void {
    if (this.#state === 'dead') {
      throw new FiberError('ERR_FIBER_DEAD', `cannot ${verb} ${this.#describe()}: it has already finished; create a new Fiber`);
    }
    if (this === Fiber.#current) {
      throw new FiberError('ERR_FIBER_RUNNING', `cannot ${verb} ${this.#describe()}: it is the running fiber`);
    }
  }

  /**
   * run() and kill() make the caller the parent, unless that would make a
   * cycle. Only a fiber that has children can be the caller's ancestor, so a
   * chain of nested run()s of fresh fibers costs no walk up the chain each.
   */
  #adopt(verb: string): void {
    const caller = Fiber.#current;
    if (this === Fiber.#root) throw new FiberError('ERR_FIBER_ROOT', `cannot ${verb} the root fiber; use Fiber.yield() or root.switch()`);
    if (this.#hasChildren) {
      for (let f: Fiber | undefined = caller; f !== undefined; f = f.#parent) {
        if (f === this) {
          throw new FiberError('ERR_FIBER_RUNNING', `cannot ${verb} ${this.#describe()}: it is waiting on the running fiber, which descends from it; switch to it or yield instead`);
        }
      }
    }
    this.#parent = caller;
    caller.#hasChildren = true;
  }

  #liveParent(): Fiber {
    let p = this.#parent ?? Fiber.#root;
    while (p.#state === 'dead') p = p.#parent ?? Fiber.#root;
    return p;
  }

  #finish(): void {
    this.#state = 'dead';
    this.#fn = undefined;
    Fiber.#unlink(this);
  }

  static #transfer(target: Fiber, value: unknown, args: unknown[] | undefined, throws: boolean, error: unknown): unknown {
    const from = Fiber.#current;
    if (target.#state === 'new') Fiber.#prepareStart(target);
    if (contextInUse()) from.#view = swapView(target.#view);
    put(value, args, throws, error);
    from.#state = 'suspended';
    target.#state = 'running';
    Fiber.#current = target;
    try {
      mailbox[0] = target.#handle!;
      core.switchTo();
    } catch (err) {
      // The native side refused before switching: nothing moved.
      Fiber.#current = from;
      from.#state = 'running';
      if (Fiber.#starting === target) {
        Fiber.#starting = undefined;
        Fiber.#unlink(target);
        target.#state = 'new';
        target.#handle = undefined; // a failed start frees the native fiber
        target.#view = undefined;
      } else {
        target.#state = 'suspended';
      }
      put(undefined, undefined, false, undefined);
      throw err;
    }
    return take();
  }

  static #prepareStart(target: Fiber): void {
    if (target.#handle === undefined) {
      // Created before any AsyncLocalStorage was used: an empty context.
      target.#handle = core.create(target.#stackSize, false);
    } else {
      unstarted.unregister(target);
    }
    Fiber.#starting = target;
    Fiber.#link(target);
  }

  /**
   * First JS frame of every fiber, called by the native entry on the new
   * stack. Nothing may throw out of it: the native side would then have no
   * fiber to go to, and the two sides' lists would disagree. So the outcome
   * is read without running user code where possible (FiberExit.is), and
   * what user code does run (a `value` getter) counts as the fiber's failure.
   */
  static #main(): void {
    const self = Fiber.#starting!;
    Fiber.#starting = undefined;
    let result: unknown;
    let failed = false;
    let failure: unknown;
    try {
      const args = slotArgs ?? [];
      take(); // throws what throw() sent into a fiber that had not started
      result = self.#fn!(...args);
    } catch (err) {
      try {
        if (FiberExit.is(err)) result = err.value;
        else {
          failed = true;
          failure = err;
        }
      } catch (getter) {
        failed = true;
        failure = getter;
      }
    }
    self.#finish();
    Fiber.#finishInto(self, self.#liveParent(), result, failed, failure);
  }

  /**
   * Sets the fiber the finished `self` goes to: `parent`, with its outcome.
   * A parent that has yet to start needs a stack now; when the kernel refuses
   * one, the parent stays unstarted and an ERR_FIBER_STACK goes to its own
   * parent instead, carrying the outcome (`value`, or `cause` for a failure).
   */
  static #finishInto(self: Fiber, parent: Fiber, result: unknown, failed: boolean, failure: unknown): void {
    for (;;) {
      try {
        if (parent.#state === 'new') Fiber.#prepareStart(parent);
        if (contextInUse()) applyView(parent.#view);
        put(result, [result], failed, failure);
        parent.#state = 'running';
        Fiber.#current = parent;
        mailbox[0] = parent.#handle!;
        core.setNext();
        return;
      } catch (err) {
        Fiber.#current = self;
        put(undefined, undefined, false, undefined);
        if (parent === Fiber.#root) throw err; // the root needs no stack: a bug, reported by the native entry
        if (Fiber.#starting === parent) {
          Fiber.#starting = undefined;
          Fiber.#unlink(parent);
          parent.#handle = undefined; // the native side freed it
          parent.#view = undefined;
        }
        parent.#state = 'new';
        const reason = err instanceof Error ? err.message : String(err);
        const error = new FiberError('ERR_FIBER_STACK', `${self.#describe()} finished, but its parent ${parent.#describe()} could not start to receive ${failed ? 'its error' : 'its result'}: ${reason}`);
        if (failed) Object.defineProperty(error, 'cause', { value: failure, configurable: true, writable: true });
        else Object.defineProperty(error, 'value', { value: result, configurable: true, writable: true });
        result = undefined;
        failed = true;
        failure = error;
        parent = parent.#liveParent();
      }
    }
  }

  static #link(fiber: Fiber): void {
    fiber.#isLive = true;
    fiber.#livePrev = undefined;
    fiber.#liveNext = Fiber.#liveHead;
    if (Fiber.#liveHead !== undefined) Fiber.#liveHead.#livePrev = fiber;
    Fiber.#liveHead = fiber;
  }

  static #unlink(fiber: Fiber): void {
    if (!fiber.#isLive) return;
    fiber.#isLive = false;
    if (fiber.#livePrev !== undefined) fiber.#livePrev.#liveNext = fiber.#liveNext;
    else Fiber.#liveHead = fiber.#liveNext;
    if (fiber.#liveNext !== undefined) fiber.#liveNext.#livePrev = fiber.#livePrev;
    fiber.#liveNext = fiber.#livePrev = undefined;
  }

  static #liveArray(): Fiber[] {
    const out: Fiber[] = [];
    for (let f = Fiber.#liveHead; f !== undefined; f = f.#liveNext) out.push(f);
    return out.reverse(); // oldest first
  }

  /** Live fibers, with where they were created. */
  static list(): FiberInfo[] {
    return Fiber.#liveArray().map((f) => ({
      id: f.id,
      name: f.name,
      state: f.#state,
      createdAt: f.#site?.stack?.split('\n').slice(1).join('\n'),
    }));
  }

  static {
    liveArray = () => Fiber.#liveArray();
    getHubRecord = (fiber) => fiber.#hubRecord;
    putHubRecord = (fiber, record) => {
      fiber.#hubRecord = record;
    };
    switchOne = (target, value) => {
      target.#checkTarget('switch to');
      if (switchGuard !== undefined) switchGuard('switch to', target);
      return Fiber.#transfer(target, value, target.#state === 'new' ? [value] : undefined, false, undefined);
    };
    core = load(() => Fiber.#main());
    mailbox = core.mailbox;
    this.#root = new this(ROOT as never);
    this.#current = this.#root;
    installScopeHooks({
      inFiber: () => this.#current !== this.#root,
      getAsyncContext: () => core.getAsyncContext(),
      setAsyncContext: (value) => core.setAsyncContext(value),
    });
  }
}

/**
 * Accepts only a Fiber of this thread. A Fiber posted to another worker
 * arrives there as a plain copy of its public fields (id, name, threadId):
 * that copy is refused with ERR_FIBER_THREAD.
 */
function checkFiber(value: unknown, name: string): asserts value is Fiber {
  if (Fiber.is(value)) return;
  const copy = value as { id?: unknown; threadId?: unknown } | null;
  if (copy !== null && typeof copy === 'object' && typeof copy.id === 'number' && typeof copy.threadId === 'number' && copy.threadId !== threadId) {
    throw new FiberError('ERR_FIBER_THREAD', `fiber #${copy.id} belongs to thread ${copy.threadId}, not to this thread (${threadId}): a fiber can only be used on the thread that created it`);
  }
  throw invalidArgType(name, 'a Fiber', value);
}

/** The started, unfinished Fiber objects of this thread (for the hub's reports; not exported by the package). */
export function liveFibers(): Fiber[] {
  return liveArray();
}

/**
 * The hub's record of a fiber (what it waits on, where), kept on the fiber
 * itself: no map lookup on the switch path (not exported by the package).
 */
export function hubRecord(fiber: Fiber): unknown {
  return getHubRecord(fiber);
}

export function setHubRecord(fiber: Fiber, record: unknown): void {
  putHubRecord(fiber, record);
}

/**
 * Gives back the id of the fiber created last: for a fiber made at load time
 * and never started (greenlet.ts), so user fibers still count from #1.
 */
export function releaseFiberId(): void {
  nextId--;
}

/**
 * `target.switch(value)` for the hub, which resumes a fiber on every handoff:
 * no arguments array per call (not exported by the package).
 */
export function switchWith(target: Fiber, value: unknown): unknown {
  return switchOne(target, value);
}

/** The running fiber (greenlet's getcurrent()). */
export function getcurrent(): Fiber {
  return Fiber.current;
}

/** Started, unfinished fibers of this thread, with where they were created. */
export function listFibers(): FiberInfo[] {
  return Fiber.list();
}

/** The counters of stats(): this thread's fibers and their stacks. */
export type StatsCounters = Pick<NativeStats, 'created' | 'finished' | 'live' | 'suspended' | 'stackBytesReserved' | 'stackBytesPooled'>;

/**
 * The diagnostic part of stats(): which implementation path this runtime
 * took (guard pages, young-GC handling, the switch) and why, as the README
 * describes. For bug reports and tests; these name internals, and their
 * values may change with any release.
 */
export type StatsDiagnostics = Pick<NativeStats, 'guardPages' | 'youngGc' | 'switching'>;

export interface Stats extends StatsCounters, StatsDiagnostics {}

/** Counters for this thread's fibers and stacks. */
export function stats(): Stats {
  return core.stats();
}
