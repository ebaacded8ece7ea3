/**
 * stackful/fibers: node-fibers' `fibers` module on stackful's Fiber.
 *
 *   const Fiber = require('stackful/fibers');   // or require('fibers') through the alias package
 *   Fiber(function () { const x = Fiber.yield(1); ... }).run();
 *
 * Each node-fibers Fiber object drives one stackful Fiber (its "core") and
 * keeps node-fibers' rules on top:
 *  - `Fiber(fn)` works with and without `new`, and takes exactly one function;
 *  - a fiber that finished is back to "not started": run() starts `fn` again
 *    on a new core (node-fibers documents this);
 *  - run() and throwInto() resume only a fiber that is "yielding", i.e.
 *    stopped in Fiber.yield(). A fiber that is running, or is itself waiting
 *    in run() for a child, or is parked by stackful's hub (a green IO call),
 *    refuses with node-fibers' "This Fiber is already running" / "This Fiber
 *    is not yielding";
 *  - Fiber.yield() goes back to whoever last resumed the fiber (run(),
 *    throwInto() or reset() make the caller the core's parent);
 *  - reset() throws a "zombie" error into the fiber, and every Fiber.yield()
 *    the fiber makes while it unwinds throws it again at once, so the fiber
 *    cannot stop unwinding by catching it.
 * Errors keep node-fibers' class and message, with a stable `code` added
 * (see fibersError in src/core/errors.ts).
 */
import { Fiber as Core, stats } from '../core/fiber.js';
import { fibersError, outOfRange } from '../core/errors.js';

/** The compat object of each core that has one (also made on demand for fibers started by stackful's own API). */
const compatOf = new WeakMap<Core, FiberObject>();

/** core.throw(undefined) would throw a FiberExit: this stands for `undefined` on the way in. */
const THROWN_UNDEFINED = Object.freeze({ thrownUndefined: true });

let poolSize = 120; // node-fibers' default

type Body = (...args: any[]) => any;

class FiberObject {
  /** The stackful fiber that runs (or last ran) `fn`. */
  #core: Core;
  /** undefined for a compat object made for a fiber stackful's own API started: it cannot be restarted. */
  readonly #fn: Body | undefined;
  /** Stopped in Fiber.yield(): the only state from which run() / throwInto() / reset() may resume it. */
  #yielding = false;
  /** Set by reset() while the fiber unwinds: every Fiber.yield() throws it. */
  #zombie: Error | undefined;
  /** The arguments of the next start: node-fibers passes run()'s argument only when there is one. */
  #startArgs: unknown[] = [];

  constructor(fn: Body | undefined, core?: Core) {
    this.#fn = fn;
    this.#core = core ?? this.#newCore();
    compatOf.set(this.#core, this);
  }

  /**
   * A core for the next start. The first is made when the Fiber is created,
   * so that it runs in its creator's async context, as stackful's own fibers
   * do; a fiber that starts over gets a new one in run().
   */
  #newCore(): Core {
    const fn = this.#fn!;
    const startFiber = (): unknown => fn.apply(globalThis, this.#startArgs);
    return new Core(startFiber, { name: `Fiber(${fn.name || 'anonymous'})` });
  }

  /** node-fibers' methods check `this` as V8 does for a native method: Fiber.prototype.run.call(null) is refused. */
  static #check(self: unknown): asserts self is FiberObject {
    if (self === null || typeof self !== 'object' || !(#core in self)) {
      throw fibersError(TypeError, 'ERR_INVALID_THIS', 'Illegal invocation');
    }
  }

  /** The node-fibers view of a core: its own, or (for a fiber started by stackful's own API) one made now and kept. */
  static of(core: Core): FiberObject {
    return compatOf.get(core) ?? new FiberObject(undefined, core);
  }

  /** True from the first run() until the function returns or throws (then false again, as in node-fibers). */
  get started(): boolean | undefined {
    if (this === null || typeof this !== 'object' || !(#core in this)) return undefined;
    return this.#core.started && !this.#core.dead;
  }

  run(value?: unknown): unknown {
    FiberObject.#check(this);
    if (arguments.length > 1) throw fibersError(TypeError, 'ERR_FIBERS_ARG_COUNT', 'run() excepts 1 or no arguments');
    let core = this.#core;
    if (core.dead) {
      if (this.#fn === undefined) {
        // Only a fiber started through stackful's own API has no function to start again.
        return core.run(value); // throws ERR_FIBER_DEAD, which says so
      }
      compatOf.delete(core);
      core = this.#core = this.#newCore();
      compatOf.set(core, this);
    }
    if (!core.started) {
      this.#startArgs = arguments.length === 0 ? [] : [value];
    } else if (!this.#yielding) {
      throw fibersError(Error, 'ERR_FIBER_RUNNING', 'This Fiber is already running');
    }
    return core.run(value);
  }

  throwInto(err?: unknown): unknown {
    FiberObject.#check(this);
    if (!this.#yielding) throw fibersError(Error, 'ERR_FIBER_NOT_YIELDING', 'This Fiber is not yielding');
    if (arguments.length > 1) throw fibersError(TypeError, 'ERR_FIBERS_ARG_COUNT', 'throwInto() expects 1 or no arguments');
    return this.#resumeThrowing(err === undefined ? THROWN_UNDEFINED : err);
  }

  /**
   * Unwinds a yielding fiber: node-fibers' "zombie" error is thrown at its
   * Fiber.yield(), and at every later Fiber.yield() until the function ends.
   * Returns what the function returns; the zombie error itself is swallowed;
   * any other error the function ends with is thrown here.
   */
  reset(): unknown {
    FiberObject.#check(this);
    if (!this.started) return undefined;
    if (!this.#yielding) throw fibersError(Error, 'ERR_FIBER_NOT_YIELDING', 'This Fiber is not yielding');
    if (arguments.length > 0) throw fibersError(TypeError, 'ERR_FIBERS_ARG_COUNT', 'reset() expects no arguments');
    const zombie = fibersError(Error, 'ERR_FIBER_ZOMBIE', 'This Fiber is a zombie');
    this.#zombie = zombie;
    try {
      return this.#resumeThrowing(zombie);
    } catch (err) {
      if (err === zombie) return undefined;
      throw err;
    } finally {
      this.#zombie = undefined;
    }
  }

  #resumeThrowing(err: unknown): unknown {
    // The caller gets what the fiber yields or how it ends, as from run().
    this.#core.parent = Core.current;
    return this.#core.throw(err);
  }

  static yield(value?: unknown): unknown {
    const core = Core.current;
    if (core === Core.root) throw fibersError(Error, 'ERR_NOT_IN_FIBER', 'yield() called with no fiber running');
    const self = FiberObject.of(core);
    if (self.#zombie !== undefined) throw self.#zombie;
    if (arguments.length > 1) throw fibersError(TypeError, 'ERR_FIBERS_ARG_COUNT', 'yield() expects 1 or no arguments');
    self.#yielding = true;
    try {
      return Core.yield(value);
    } catch (err) {
      if (err === THROWN_UNDEFINED) throw undefined;
      throw err;
    } finally {
      self.#yielding = false;
    }
  }
}

/** A node-fibers Fiber object. Any other property may be set on it and is kept (Meteor keeps its dynamics there). */
interface Fiber {
  /** Starts the fiber (`value` is the function's argument) or resumes it (`value` is what its Fiber.yield() returns); returns what it yields or returns. */
  run(value?: unknown): any;
  /** Makes the pending Fiber.yield() throw `err`; returns what the fiber then yields or returns. */
  throwInto(err?: unknown): any;
  /** Unwinds a yielding fiber (see above); does nothing to one that has not started. */
  reset(): any;
  /** Between the first run() and the end of the function. */
  readonly started: boolean;
  [property: string]: any;
}

interface FiberConstructor {
  (fn: (value?: any) => any): Fiber;
  new (fn: (value?: any) => any): Fiber;
  readonly prototype: Fiber;
  /** The running Fiber, or undefined on the main stack. Assigning it does nothing. */
  current: Fiber | undefined;
  /** Goes back to whoever resumed the running fiber, with `value`; returns the value of the next run(). */
  yield(value?: unknown): any;
  /** Accepted for compatibility and reported back; stackful's stack pool is not limited by a count (see README). */
  poolSize: number;
  /** Fibers stackful has created on this thread so far (its stats().created). */
  readonly fibersCreated: number;
}

const Fiber = function Fiber(fn: Body): FiberObject {
  if (arguments.length !== 1) throw fibersError(TypeError, 'ERR_FIBERS_ARG_COUNT', 'Fiber expects 1 argument');
  if (typeof fn !== 'function') throw fibersError(TypeError, 'ERR_INVALID_ARG_TYPE', 'Fiber expects a function');
  // With or without `new`, the same object (returning it from a constructor
  // replaces `this`); a subclass's prototype is kept.
  return Reflect.construct(FiberObject, [fn], new.target ?? Fiber) as FiberObject;
} as unknown as FiberConstructor;

Object.defineProperty(Fiber, 'prototype', { value: FiberObject.prototype });
Object.defineProperty(FiberObject.prototype, 'constructor', { value: Fiber, writable: true, configurable: true });
Object.defineProperties(Fiber, {
  current: {
    get(): FiberObject | undefined {
      const core = Core.current;
      return core === Core.root ? undefined : FiberObject.of(core);
    },
    // Ignored, as node-fibers ignores it; libraries assign it (sync does
    // `Fiber.current = Fiber.current || fiber`), and strict-mode code would
    // throw on a property without a setter.
    set(_value: unknown) {},
    enumerable: true,
  },
  yield: { value: FiberObject.yield, writable: true, configurable: true, enumerable: true },
  poolSize: {
    get: () => poolSize,
    set(value: unknown) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw outOfRange('Fiber.poolSize', 'an integer >= 0', value);
      poolSize = n;
    },
    enumerable: true,
  },
  fibersCreated: { get: () => stats().created, enumerable: true },
});

export = Fiber;
