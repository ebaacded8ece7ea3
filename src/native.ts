/**
 * The only importer of the .node file. Checks that this runtime is one
 * stackful supports before loading anything, and exposes what it found.
 */
import * as path from 'node:path';
import { FiberError, UnsupportedRuntimeError } from './errors.js';

/** V8 lines whose internals stackful has been validated against (see native/v8_state.cc). */
export const SUPPORTED_V8: Readonly<Record<string, string>> = {
  '11.3': 'Node 20',
  '12.4': 'Node 22',
};
export const SUPPORTED_PLATFORMS: readonly string[] = ['linux-x64'];

export interface RuntimeFacts {
  platform: string;
  arch: string;
  node: string;
  v8: string;
}

export interface RuntimeInfo extends RuntimeFacts {
  supported: boolean;
  reason: string;
}

function supportedList(): string {
  const lines = Object.entries(SUPPORTED_V8).map(([v8, node]) => `${node} (V8 ${v8})`);
  return `${lines.join(', ')} on ${SUPPORTED_PLATFORMS.join(', ')}`;
}

/** Decides from the facts alone whether stackful may load; pure, so it can be tested with any facts. */
export function checkRuntime(facts: RuntimeFacts): RuntimeInfo {
  const target = `${facts.platform}-${facts.arch}`;
  let reason = '';
  if (!SUPPORTED_PLATFORMS.includes(target)) {
    reason = `checked the OS and CPU: ${target} has no stack switch in this build`;
  } else {
    const line = facts.v8.split('.').slice(0, 2).join('.');
    if (!(line in SUPPORTED_V8)) {
      reason = `checked the V8 version: Node ${facts.node} ships V8 ${facts.v8}, whose internals stackful has not been validated against`;
    }
  }
  if (reason) reason += `; supported: ${supportedList()}`;
  return { ...facts, supported: reason === '', reason };
}

export interface NativeStats {
  created: number;
  finished: number;
  live: number;
  suspended: number;
  stackBytesReserved: number;
  stackBytesPooled: number;
}

/** Names a native fiber: its slot and the slot's generation (see native/fiber.h). */
export type Handle = number;

export interface NativeCore {
  root: Handle;
  defaultStackSize: number;
  minStackSize: number;
  maxStackSize: number;
  create(stackSize: number): Handle;
  switchTo(target: Handle): void;
  setNext(next: Handle): void;
  stats(): NativeStats;
}

interface NativeInit {
  supported: boolean;
  reason: string;
}

interface Addon {
  init(entry: () => void, makeError: (code: string, message: string) => Error): NativeInit & Partial<NativeCore>;
}

export const runtime: RuntimeInfo = checkRuntime({
  platform: process.platform,
  arch: process.arch,
  node: process.versions.node,
  v8: process.versions.v8,
});

/** Loads the addon and initialises it on this thread; throws UnsupportedRuntimeError when it cannot run here. */
export function load(entry: () => void): NativeCore {
  if (!runtime.supported) throw new UnsupportedRuntimeError(`stackful cannot run here: ${runtime.reason}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require('node-gyp-build')(path.join(__dirname, '..')) as Addon;
  const core = addon.init(entry, (code, message) => new FiberError(code, message));
  if (!core.supported) {
    runtime.supported = false;
    runtime.reason = `probed V8 at load time: ${core.reason}; supported: ${supportedList()}`;
    throw new UnsupportedRuntimeError(`stackful cannot run here: ${runtime.reason}`);
  }
  return core as NativeCore;
}
