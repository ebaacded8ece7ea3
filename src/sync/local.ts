/**
 * local(): an object whose properties each fiber sees separately (gevent's
 * local, threading.local for fibers).
 *
 *   const request = local<{ id?: string }>();
 *   spawn(() => { request.id = 'a'; sleep(1); request.id; });  // still 'a'
 *
 * Each fiber's properties live in a WeakMap keyed by its Fiber, so they are
 * collected with the fiber (see test/sync "local ... does not keep values of
 * dead fibers"). The root fiber has its own set, like any other fiber.
 */
import { Fiber } from '../core/fiber.js';
import { invalidArgType } from '../core/errors.js';

/**
 * Creates fiber-local storage. `init`, when given, is called (in the fiber
 * itself) the first time a fiber touches the object, and its result supplies
 * that fiber's initial properties.
 */
export function local<T extends object = Record<PropertyKey, unknown>>(init?: () => Partial<T>): T {
  if (init !== undefined && typeof init !== 'function') throw invalidArgType('init', 'a function or undefined', init);
  const stores = new WeakMap<Fiber, Record<PropertyKey, unknown>>();
  const storeOf = (): Record<PropertyKey, unknown> => {
    const fiber = Fiber.current;
    let store = stores.get(fiber);
    if (store === undefined) {
      store = Object.create(null) as Record<PropertyKey, unknown>;
      stores.set(fiber, store);
      // Set before init() runs, so an init that reads the object does not recurse forever.
      if (init !== undefined) Object.assign(store, init());
    }
    return store;
  };
  // The target stays empty and extensible: every property lives in the
  // running fiber's store, and the traps below never report one as
  // non-configurable, so the Proxy invariants hold.
  return new Proxy(Object.create(null) as T, {
    get: (_target, key) => storeOf()[key],
    set: (_target, key, value) => {
      storeOf()[key] = value;
      return true;
    },
    has: (_target, key) => key in storeOf(),
    deleteProperty: (_target, key) => delete storeOf()[key],
    ownKeys: () => Reflect.ownKeys(storeOf()),
    getOwnPropertyDescriptor: (_target, key) => {
      const store = storeOf();
      if (!Object.prototype.hasOwnProperty.call(store, key)) return undefined;
      return { value: store[key], writable: true, enumerable: true, configurable: true };
    },
    defineProperty: (_target, key, descriptor) => {
      // Accessors and non-configurable properties cannot be per fiber.
      if (!('value' in descriptor) || descriptor.get !== undefined || descriptor.set !== undefined || descriptor.configurable === false) return false;
      storeOf()[key] = descriptor.value;
      return true;
    },
  });
}
