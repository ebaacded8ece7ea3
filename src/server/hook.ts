/**
 * Serving an unchanged app: every http / https server the app creates hands
 * each request to a greenlet of its own (what `stackful serve` and the
 * `stackful/serve` preload install).
 *
 * Node delivers a request by `server.emit('request', req, res)`; patching
 * `emit` of http.Server and https.Server catches every listener however it
 * was added (`http.createServer(handler)`, `server.on('request', ...)`,
 * Express's `app.listen()`, which does createServer(app)), and leaves
 * `listeners()`, `removeListener()` and the rest exactly as Node has them.
 * The servers that have started listening are tracked, so that a shutdown
 * closes them all gracefully.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Dispatcher, type CheckedDispatchOptions } from './dispatcher.js';
import { countRequest, onShutdown } from './process.js';

type AnyServer = http.Server | https.Server;
type Emit = (this: AnyServer, event: string | symbol, ...args: unknown[]) => boolean;

/** Servers made by stackful/server's serve(): they dispatch already. */
export const ownServers = new WeakSet<AnyServer>();

/** The events whose (req, res) a fiber handles. */
const REQUEST_EVENTS = new Set<string | symbol>(['request', 'checkContinue', 'checkExpectation']);

const dispatchers = new WeakMap<AnyServer, Dispatcher>();
const eventOf = new WeakMap<http.IncomingMessage, string | symbol>();
const listening = new Set<AnyServer>();
let options: CheckedDispatchOptions | undefined;

/**
 * Stops accepting, lets the server's requests finish (at most `deadline` ms,
 * then kills them), then closes every connection left.
 */
export async function closeServer(server: AnyServer, dispatcher: Dispatcher | undefined, deadline: number): Promise<void> {
  // Also closes the idle keep-alive connections (Node >= 19).
  if (server.listening) server.close();
  if (dispatcher !== undefined) await dispatcher.drain(deadline);
  server.closeAllConnections();
}

/** Whether installServerHook() has run in this process. */
export function serverHookInstalled(): boolean {
  return options !== undefined;
}

/** Patches http.Server and https.Server (once per process; later calls change nothing). */
export function installServerHook(dispatchOptions: CheckedDispatchOptions): void {
  if (options !== undefined) return;
  options = dispatchOptions;
  for (const proto of [http.Server.prototype, https.Server.prototype] as Array<{ emit: Emit }>) {
    const original = proto.emit;
    proto.emit = function emit(this: AnyServer, event: string | symbol, ...args: unknown[]): boolean {
      if (REQUEST_EVENTS.has(event) && !ownServers.has(this)) {
        const req = args[0] as http.IncomingMessage;
        const res = args[1] as http.ServerResponse;
        eventOf.set(req, event);
        dispatcherOf(this, original).dispatch(this, req, res);
        return true;
      }
      if (event === 'listening') listening.add(this);
      else if (event === 'close') listening.delete(this);
      return original.call(this, event, ...args);
    };
  }
  onShutdown((deadline) => Promise.all([...listening].map((server) => closeServer(server, dispatchers.get(server), deadline))).then(() => undefined));
}

function dispatcherOf(server: AnyServer, emit: Emit): Dispatcher {
  let dispatcher = dispatchers.get(server);
  if (dispatcher === undefined) {
    dispatcher = new Dispatcher(function (this: AnyServer, req, res) {
      return emit.call(this, eventOf.get(req) ?? 'request', req, res);
    }, options!);
    dispatcher.onHandled = countRequest;
    dispatchers.set(server, dispatcher);
  }
  return dispatcher;
}
