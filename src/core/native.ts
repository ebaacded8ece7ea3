/**
 * The only importer of the .node file. Checks that this runtime is one
 * stackful supports before loading anything, and exposes what it found.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { FiberError, NativeBinaryError, UnsupportedRuntimeError } from './errors.js';
import { ENV, settings } from './settings.js';

/** V8 lines whose internals stackful has been validated against: the rows of kProfiles (native/v8_lines.h), which test/native-lines.test.ts holds this copy to. */
export const SUPPORTED_V8: Readonly<Record<string, string>> = {
  '11.3': 'Node 20',
  '12.4': 'Node 22',
  '13.6': 'Node 24',
  '14.6': 'Node 26',
};
/** The targets binding.gyp builds a stack switch for (test/native-lines.test.ts holds this copy and package.json os/cpu to it). */
export const SUPPORTED_PLATFORMS: readonly string[] = ['linux-x64', 'linux-arm64'];

export interface RuntimeFacts {
  platform: string;
  arch: string;
  node: string;
  v8: string;
}

export interface RuntimeInfo extends RuntimeFacts {
  supported: boolean;
  reason: string;
  /** True when an unvalidated V8 line is let through by STACKFUL_ALLOW_UNTESTED_V8=1. */
  untested?: boolean;
}

/** The documented override: load on a V8 line that is not in SUPPORTED_V8 (the load-time probes still run). */
export const OVERRIDE_ENV = ENV.allowUntestedV8;

function supportedList(): string {
  const lines = Object.entries(SUPPORTED_V8).map(([v8, node]) => `${node} (V8 ${v8})`);
  return `${lines.join(', ')} on ${SUPPORTED_PLATFORMS.join(', ')}`;
}

/** Decides from the facts alone whether stackful may load; pure, so it can be tested with any facts. */
export function checkRuntime(facts: RuntimeFacts, allowUntested = false): RuntimeInfo {
  const target = `${facts.platform}-${facts.arch}`;
  let reason = '';
  let untested = false;
  if (!SUPPORTED_PLATFORMS.includes(target)) {
    reason = `checked the OS and CPU: ${target} has no stack switch in this build`;
  } else {
    const line = facts.v8.split('.').slice(0, 2).join('.');
    if (!(line in SUPPORTED_V8)) {
      if (allowUntested) untested = true;
      else reason = `checked the V8 version: Node ${facts.node} ships V8 ${facts.v8}, whose internals stackful has not been validated against (set ${OVERRIDE_ENV}=1 to try anyway)`;
    }
  }
  if (reason) reason += `; supported: ${supportedList()}`;
  return { ...facts, supported: reason === '', reason, ...(untested ? { untested } : {}) };
}

export interface NativeStats {
  created: number;
  finished: number;
  live: number;
  suspended: number;
  stackBytesReserved: number;
  stackBytesPooled: number;
  /** How guard pages are made: 'region' (Linux 6.13+, no mapping each) or 'mprotect'; '' before the first stack. */
  guardPages: '' | 'region' | 'mprotect';
  /**
   * How young-generation GCs (scavenges) treat parked fibers. 'skip-clean': a
   * fiber parked through 3 scavenges holds no young object any more, and later
   * scavenges leave it out, so their pause does not grow with the number of
   * parked fibers; 'visit-all': every scavenge visits every parked fiber
   * (`reason` says why); 'pending': decided once 64 fibers are parked.
   */
  youngGc: { path: 'skip-clean' | 'visit-all' | 'pending'; reason?: string; scavenges: number; skipping: number };
  /**
   * How fibers switch. 'direct': stackful archives and restores V8's
   * per-thread state itself (native/thread_archive.h); 'locker': every fiber
   * is a V8 thread of its own, switched with v8::Unlocker / v8::Locker (slower;
   * `reason` says why, e.g. STACKFUL_SWITCH=locker or a failed load-time proof).
   * `stackLimit`: 'by-hand' when a switch writes V8's stack-limit words itself
   * (found at load, direct switch only), 'api' when it calls
   * Isolate::SetStackLimit(), which takes a lock. `handleScopes`: 'by-hand'
   * when a switch copies V8's handle-scope state itself (its layout proven at
   * load against V8's own archive), 'api' when it calls V8's functions.
   * `threadLocalTop`: the same for V8's ThreadLocalTop (frames, handlers,
   * context) and its list of Relocatables, found in the isolate and proven at
   * load. `handleBlocks`:
   * 'stack' when a fiber's first V8 handle block sits at the top of its own
   * stack (one page less per suspended fiber; proven at load), 'v8' when V8
   * allocates it.
   */
  switching: {
    path: 'direct' | 'locker';
    reason?: string;
    stackLimit: 'by-hand' | 'api';
    handleScopes: 'by-hand' | 'api';
    threadLocalTop: 'by-hand' | 'api';
    handleBlocks: 'stack' | 'v8';
  };
}

/** Names a native fiber: its slot and the slot's generation (see native/fiber.h). */
export type Handle = number;

export interface NativeCore {
  root: Handle;
  defaultStackSize: number;
  minStackSize: number;
  maxStackSize: number;
  create(stackSize: number, inheritContext: boolean): Handle;
  discard(handle: Handle): void;
  /**
   * The handle the next switchTo() or setNext() acts on goes in `mailbox[0]`
   * (native memory: no argument checking and unboxing on each switch).
   */
  mailbox: Float64Array;
  /** Switches to the fiber whose handle is in mailbox[0]; returns once something switches back. */
  switchTo(): void;
  /** Where the running fiber goes when its body returns: the fiber whose handle is in mailbox[0]. */
  setNext(): void;
  stats(): NativeStats;
  /**
   * Cancels the wasm code GC tasks still queued for this isolate (the code GC
   * must be off): how many, or -1 when this Node binary lacks what it takes.
   */
  cancelWasmCodeGcTasks(): number;
  /** V8's continuation-preserved embedder data (undefined on V8 11.3). */
  getAsyncContext(): unknown;
  setAsyncContext(value: unknown): void;
}

interface NativeInit {
  supported: boolean;
  reason: string;
}

interface Addon {
  init(
    entry: () => void,
    makeError: (code: string, message: string) => Error,
  ): NativeInit & Partial<Omit<NativeCore, 'mailbox'>> & { mailbox?: ArrayBuffer };
}

export const runtime: RuntimeInfo = checkRuntime(
  { platform: process.platform, arch: process.arch, node: process.versions.node, v8: process.versions.v8 },
  settings.allowUntestedV8,
);

/** Loads the addon and initialises it on this thread; throws UnsupportedRuntimeError when it cannot run here. */
export function load(entry: () => void): NativeCore {
  if (!runtime.supported) throw new UnsupportedRuntimeError(`stackful cannot run here: ${runtime.reason}`);
  if (runtime.untested) {
    process.emitWarning(
      `stackful has not been validated against V8 ${runtime.v8} (Node ${runtime.node}); loading anyway because ${OVERRIDE_ENV}=1. The load-time probes still run, but fibers may misbehave. Supported: ${supportedList()}.`,
      { code: 'STACKFUL_UNTESTED_V8' },
    );
  }
  const addon = loadBinary(path.join(__dirname, '..', '..'));
  const core = addon.init(entry, (code, message) => new FiberError(code, message));
  if (!core.supported) {
    runtime.supported = false;
    runtime.reason = `probed V8 at load time: ${core.reason}; supported: ${supportedList()}`;
    throw new UnsupportedRuntimeError(`stackful cannot run here: ${runtime.reason}`);
  }
  return { ...(core as Omit<NativeCore, 'mailbox'>), mailbox: new Float64Array(core.mailbox!) };
}

/** The Node lines of the ABIs (process.versions.modules) stackful ships prebuilds for. */
const NODE_OF_ABI: Readonly<Record<string, string>> = { '115': 'Node 20', '127': 'Node 22', '137': 'Node 24', '147': 'Node 26' };

/** How to get the binary built, for each package manager (the install script compiles it when no prebuild fits). */
const HOW_TO_BUILD =
  'The install script of stackful builds it when no prebuild fits, and it did not run or did not finish ' +
  '(npm --ignore-scripts, npm 11 or pnpm 10 holding back install scripts until approved). Fix: ' +
  'npm: `npm install-scripts approve stackful` if npm held it back, then `npm rebuild stackful`; ' +
  'pnpm: `pnpm approve-builds` (choose stackful), then `pnpm rebuild stackful`; ' +
  'yarn: `yarn rebuild stackful` (Yarn 2+; with `enableScripts: false`, allow it in `dependenciesMeta`; Yarn 1: `npm rebuild stackful`). ' +
  'Building needs Python 3, make and a C++20 compiler; the published package carries prebuilds for ' +
  `${Object.values(NODE_OF_ABI).join(', ')} on linux-x64 and linux-arm64, which need none.`;

/**
 * Finds and loads the addon as node-gyp-build does (build/Release,
 * build/Debug, then prebuilds/<platform>-<arch>/ for this ABI), and turns its
 * bare "No native build was found" (or a failed dlopen) into a
 * NativeBinaryError that says what was looked for and how to fix it: see
 * test/package.test.ts "a package without binaries".
 */
function loadBinary(root: string): Addon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  const abi = process.versions.modules;
  const where = `Node ${process.versions.node} (ABI ${abi}) on ${process.platform}-${process.arch}`;
  let file: string;
  try {
    file = nodeGypBuild.resolve(root);
  } catch (err) {
    const tuple = `${process.platform}-${process.arch}`;
    let shipped: string[] = [];
    try {
      shipped = readdirSync(path.join(root, 'prebuilds', tuple)).filter((f) => f.endsWith('.node'));
    } catch {
      // no prebuilds/ folder at all
    }
    const found = shipped.length
      ? `prebuilds there are only for ${shipped.map((f) => { const m = /abi(\d+)/.exec(f); return m ? `ABI ${m[1]}${NODE_OF_ABI[m[1]!] ? ` (${NODE_OF_ABI[m[1]!]})` : ''}` : f; }).join(', ')}`
      : `there are no prebuilds in ${path.join(root, 'prebuilds')}`;
    throw new NativeBinaryError(
      'ERR_STACKFUL_NO_BINARY',
      `stackful has no native binary for ${where}: looked for build/Release/stackful.node, build/Debug/stackful.node and ` +
        `prebuilds/${tuple}/stackful.abi${abi}.node in ${root}, and ${found}. ${HOW_TO_BUILD}`,
      { cause: err },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as Addon;
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new NativeBinaryError(
      'ERR_STACKFUL_BINARY_LOAD',
      `stackful's native binary ${file} failed to load in ${where}: ${detail}. ` +
        `It was probably built for another Node: rebuild it for this one. ${HOW_TO_BUILD}`,
      { cause: err },
    );
  }
}
