/**
 * Every environment variable stackful reads, in one place, with what it does.
 * The TypeScript side reads its variables here and nowhere else; the addon
 * reads its own with getenv() when it loads (listed below, documented in the
 * README's sections on GC and the switch).
 *
 * Read here, once, when stackful is first imported:
 *   STACKFUL_TRACE=1              record where each Fiber is created (listFibers()'s
 *                                 `createdAt`); same as setTraceCreation(true)
 *   STACKFUL_SPAWN_SITES=1        record where each greenlet is spawned, for the
 *                                 "blocked forever" report; same as setSpawnSites(true)
 *   STACKFUL_ALLOW_UNTESTED_V8=1  load on a V8 line stackful has not been validated
 *                                 against (OVERRIDE_ENV; a warning says so)
 *
 * Read by the stackful/serve preload when it starts (servingEnv()); the
 * `stackful serve` command sets them for its workers from its flags:
 *   STACKFUL_CONCURRENCY          requests handled at once per process (1000)
 *   STACKFUL_BACKLOG              requests waiting for a slot before 503 (1000)
 *   STACKFUL_TIMEOUT              ms a request may take; then 503 (no limit)
 *   STACKFUL_GRACEFUL_TIMEOUT     ms requests get to finish on shutdown (30000)
 *   STACKFUL_MAX_REQUESTS         in a cluster worker: restart after this many
 *
 * Read by the addon (native/) when it loads, for diagnosis and tests:
 *   STACKFUL_SWITCH=locker        switch with v8::Locker instead of the direct switch
 *   STACKFUL_SCAN=whole           cppgc's conservative scan covers whole fiber stacks
 *   STACKFUL_YOUNG_GC=visit-all   every scavenge visits every parked fiber
 *   STACKFUL_VERIFY_GC=1          check every fiber a scavenge leaves out, at every scavenge
 */

/** The names of the variables read here (see above for what each does). */
export const ENV = {
  traceCreation: 'STACKFUL_TRACE',
  spawnSites: 'STACKFUL_SPAWN_SITES',
  allowUntestedV8: 'STACKFUL_ALLOW_UNTESTED_V8',
  concurrency: 'STACKFUL_CONCURRENCY',
  backlog: 'STACKFUL_BACKLOG',
  timeout: 'STACKFUL_TIMEOUT',
  gracefulTimeout: 'STACKFUL_GRACEFUL_TIMEOUT',
  maxRequests: 'STACKFUL_MAX_REQUESTS',
} as const;

const flag = (name: string): boolean => process.env[name] === '1';

/** The switches set by the environment when stackful was imported. */
export const settings: { readonly traceCreation: boolean; readonly spawnSites: boolean; readonly allowUntestedV8: boolean } = Object.freeze({
  traceCreation: flag(ENV.traceCreation),
  spawnSites: flag(ENV.spawnSites),
  allowUntestedV8: flag(ENV.allowUntestedV8),
});

/** The options `stackful serve` passes to its workers. */
export type ServingKey = 'concurrency' | 'backlog' | 'timeout' | 'gracefulTimeout' | 'maxRequests';

/** The serving variables as set in `env` (unset or empty: undefined), unparsed: server/serving.ts checks them. */
export function servingEnv(env: NodeJS.ProcessEnv = process.env): Record<ServingKey, string | undefined> {
  const read = (key: ServingKey): string | undefined => (env[ENV[key]] === '' ? undefined : env[ENV[key]]);
  return {
    concurrency: read('concurrency'),
    backlog: read('backlog'),
    timeout: read('timeout'),
    gracefulTimeout: read('gracefulTimeout'),
    maxRequests: read('maxRequests'),
  };
}
