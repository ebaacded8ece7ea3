/**
 * Per-fiber AsyncLocalStorage.
 *
 * Node keeps AsyncLocalStorage's stores in one of two places, and neither is
 * per fiber by itself:
 *  - Node 24+ (and 22 with --experimental-async-context-frame): V8's
 *    continuation-preserved embedder data. The native core saves and restores
 *    it on every switch (native/async_context.h), so nothing is needed here.
 *  - Node 20 and 22: properties (one symbol per storage) on the current async
 *    resource, which every fiber resumed from the same callback shares. Here,
 *    each fiber keeps its own view of those properties, and a switch puts the
 *    incoming fiber's view in place of the outgoing one's.
 * Until some AsyncLocalStorage is used, this costs nothing.
 */
import { AsyncLocalStorage, AsyncResource, executionAsyncResource } from 'node:async_hooks';

/**
 * A fiber's stores (resource mode only): the value of storeKeys[i] at index i,
 * a hole where it has none. Shorter than storeKeys when keys were learnt since.
 */
export type ContextView = readonly unknown[];

const EMPTY: ContextView = Object.freeze([]);
let inUse = false;
let resourceMode: boolean | undefined;
/** The store key (a symbol on async resources) of every AsyncLocalStorage seen. */
const storeKeys: symbol[] = [];

function learnKey(key: unknown): void {
  if (typeof key === 'symbol' && isStoreKey(key) && !storeKeys.includes(key)) storeKeys.push(key);
}

/** The keys of the stores a resource carries, learnt on the way. */
function learnKeysOf(resource: object): void {
  for (const key of Object.getOwnPropertySymbols(resource)) learnKey(key);
}

/** True once any AsyncLocalStorage has been given a store in this thread. */
export function contextInUse(): boolean {
  return inUse;
}

function isStoreKey(key: symbol): boolean {
  return key.description === 'kResourceStore';
}

/** Finds out, once, where this Node keeps the stores. */
function detectResourceMode(run: (this: AsyncLocalStorage<unknown>, store: unknown, fn: () => unknown) => unknown): boolean {
  const probe = new AsyncLocalStorage<object>();
  const marker = {};
  const found = run.call(probe, marker, () => {
    const resource = executionAsyncResource() as Record<symbol, unknown>;
    return Object.getOwnPropertySymbols(resource).some((key) => isStoreKey(key) && resource[key] === marker);
  }) as boolean;
  probe.disable();
  return found;
}

// Notice the first use of any AsyncLocalStorage (the public methods that set a store).
{
  const proto = AsyncLocalStorage.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['run', 'enterWith'] as const) {
    const original = proto[name]!;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function (this: AsyncLocalStorage<unknown>, ...args: unknown[]) {
        if (!inUse) {
          inUse = true;
          resourceMode = detectResourceMode(proto.run as never);
          // Stores entered before stackful was loaded, on the current resource.
          if (resourceMode) learnKeysOf(executionAsyncResource());
        }
        if (resourceMode) learnKey((this as unknown as { kResourceStore?: unknown }).kResourceStore);
        return original.apply(this, args);
      },
    });
  }
}

/**
 * A switch: returns the outgoing fiber's stores and puts the incoming one's in
 * place, looking the current async resource up once.
 */
export function swapView(incoming: ContextView | undefined): ContextView | undefined {
  if (!resourceMode) return undefined;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  let outgoing: unknown[] | undefined;
  const stores = incoming ?? EMPTY;
  for (let i = 0; i < storeKeys.length; i++) {
    const key = storeKeys[i]!;
    const value = resource[key];
    if (value !== undefined) (outgoing ??= [])[i] = value;
    const wanted = stores[i];
    if (value !== wanted) resource[key] = wanted;
  }
  return outgoing ?? EMPTY;
}

/** The running fiber's stores, to keep while it is suspended (no allocation when it has none). */
export function captureView(): ContextView | undefined {
  if (!resourceMode) return undefined;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  let view: unknown[] | undefined;
  for (let i = 0; i < storeKeys.length; i++) {
    const value = resource[storeKeys[i]!];
    if (value !== undefined) (view ??= [])[i] = value;
  }
  return view ?? EMPTY;
}

/** Puts a fiber's stores in place, as it resumes: only the ones that differ are written. */
export function applyView(view: ContextView | undefined): void {
  if (!resourceMode) return;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  const stores = view ?? EMPTY;
  for (let i = 0; i < storeKeys.length; i++) {
    const key = storeKeys[i]!;
    const wanted = stores[i];
    if (resource[key] !== wanted) resource[key] = wanted;
  }
}

// --- AsyncResource scopes inside fibers -------------------------------------
//
// AsyncResource#runInAsyncScope (and AsyncResource.bind) pushes onto Node's
// async-hooks stack, which all fibers of a thread share and which the event
// loop pops in LIFO order. A fiber that switched away inside such a scope
// would leave the stack corrupted, and Node aborts ("async hook stack has
// become corrupted"). So inside a fiber the scope is kept per fiber instead:
// the resource's async context (its AsyncLocalStorage stores) is in force
// while the function runs, and nothing is pushed. What a fiber does not get
// there: async_hooks before/after events for that scope, and
// executionAsyncId() / triggerAsyncId() keep the ids of the callback the
// fiber was resumed from.

interface ScopeHooks {
  inFiber(): boolean;
  getAsyncContext(): unknown;
  setAsyncContext(value: unknown): void;
}

let hooks: ScopeHooks | undefined;

function symbolNamed(object: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(object).find((key) => key.description === description);
}

/** Called once by fiber.ts, which knows whether a fiber is running. */
export function installScopeHooks(scopeHooks: ScopeHooks): void {
  hooks = scopeHooks;
}

{
  const proto = AsyncResource.prototype as unknown as { runInAsyncScope: (...args: unknown[]) => unknown };
  const original = proto.runInAsyncScope;
  Object.defineProperty(proto, 'runInAsyncScope', {
    configurable: true,
    writable: true,
    value: function runInAsyncScope(this: AsyncResource, fn: (...args: unknown[]) => unknown, thisArg?: unknown, ...args: unknown[]) {
      if (hooks === undefined || !hooks.inFiber()) return original.call(this, fn, thisArg, ...args);
      const resource = this as unknown as Record<symbol, unknown>;
      const frameKey = symbolNamed(this, 'context_frame');
      const frame = frameKey === undefined ? undefined : resource[frameKey];
      if (frame !== undefined) {
        // Node 24+: the resource captured its AsyncContextFrame when created.
        const prior = hooks.getAsyncContext();
        hooks.setAsyncContext(frame);
        try {
          return fn.apply(thisArg, args);
        } finally {
          hooks.setAsyncContext(prior);
        }
      }
      if (!resourceMode) return fn.apply(thisArg, args);
      // Node 20/22: the resource carries copies of the stores as properties.
      const prior = captureView();
      learnKeysOf(resource);
      applyView(storeKeys.map((key) => resource[key]));
      try {
        return fn.apply(thisArg, args);
      } finally {
        applyView(prior);
      }
    },
  });
}
