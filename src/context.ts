/**
 * Per-fiber AsyncLocalStorage.
 *
 * Node keeps AsyncLocalStorage's stores in one of two places, and neither is
 * per fiber by itself:
 *  - Node 24+ (and 22 with --experimental-async-context-frame): V8's
 *    continuation-preserved embedder data. The native core saves and restores
 *    it on every switch (native/v8_state.cc), so nothing is needed here.
 *  - Node 20 and 22: properties (one symbol per storage) on the current async
 *    resource, which every fiber resumed from the same callback shares. Here,
 *    each fiber keeps its own view of those properties, and a switch puts the
 *    incoming fiber's view in place of the outgoing one's.
 * Until some AsyncLocalStorage is used, this costs nothing.
 */
import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';

/** A fiber's stores, by storage symbol (resource mode only). */
export type ContextView = Map<symbol, unknown>;

const EMPTY: ContextView = new Map();
let inUse = false;
let resourceMode: boolean | undefined;

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
        }
        return original.apply(this, args);
      },
    });
  }
}

/** The running fiber's stores, to keep while it is suspended. */
export function captureView(): ContextView | undefined {
  if (!resourceMode) return undefined;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  let view: ContextView | undefined;
  for (const key of Object.getOwnPropertySymbols(resource)) {
    if (!isStoreKey(key) || resource[key] === undefined) continue;
    (view ??= new Map()).set(key, resource[key]);
  }
  return view ?? EMPTY;
}

/** Puts a fiber's stores in place, as it resumes. */
export function applyView(view: ContextView | undefined): void {
  if (!resourceMode) return;
  const resource = executionAsyncResource() as Record<symbol, unknown>;
  const stores = view ?? EMPTY;
  for (const key of Object.getOwnPropertySymbols(resource)) {
    if (isStoreKey(key) && !stores.has(key) && resource[key] !== undefined) resource[key] = undefined;
  }
  for (const [key, value] of stores) resource[key] = value;
}
