#!/usr/bin/env node
/**
 * The `stackful` command: serve an unchanged app on fibers, in one process or
 * several (gunicorn for Node).
 *   stackful serve app.js [--workers N] [--concurrency N] [--timeout MS] [-- app args]
 * A usage error (unknown option, bad value, missing file) prints one line and
 * exits with code 2.
 */
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ENV } from '../core/settings.js';
import { parseCount, startServing, type ServingOptions } from './serving.js';
import { DEFAULT_WORKER_TIMEOUT, Supervisor } from './supervisor.js';
import { DEFAULT_BACKLOG, DEFAULT_CONCURRENCY } from './dispatcher.js';
import { DEFAULT_GRACEFUL_TIMEOUT } from './process.js';

const HELP = `Usage: stackful serve <app> [options] [-- <app arguments>]
       stackful --help | --version

Runs <app> (a .js, .cjs or .mjs file) as node would, with stackful's IO hooks
installed (fs.*Sync, execSync, spawnSync, zlib and crypto *Sync park only the
calling fiber), and hands every request of every http / https server the app
creates to a fiber of its own. The app is not edited: it calls listen() itself.

Options:
  -w, --workers <n>           run <n> worker processes with Node's cluster; they
                              share the app's port; this process only manages
                              them (replaces dead ones, with backoff).
                              Default: none, the app runs in this process
  -c, --concurrency <n>       requests handled at once, per process (default ${DEFAULT_CONCURRENCY})
      --backlog <n>           requests waiting for a free slot, per process;
                              beyond it: 503 with Retry-After (default ${DEFAULT_BACKLOG})
  -t, --timeout <ms>          a request running longer is killed (its finally
                              blocks run) and answered 503 (default: no limit)
      --graceful-timeout <ms> what requests in flight get on SIGTERM / SIGINT
                              and on reload, before they are killed (default ${DEFAULT_GRACEFUL_TIMEOUT})
      --max-requests <n>      with --workers: a worker that handled <n> requests
                              stops gracefully and is replaced (default: never)
      --worker-timeout <ms>   with --workers: a worker whose event loop is blocked
                              this long (no heartbeat) is killed and replaced
                              (default ${DEFAULT_WORKER_TIMEOUT}; 0: never)
  -h, --help                  this text
  -v, --version               the version of stackful

Signals: SIGTERM and SIGINT stop gracefully (a second one: at once);
with --workers, SIGHUP reloads: new workers start, then the old ones stop
gracefully.

The same without this command: node --import stackful/serve app.js
(or --require), with the options in STACKFUL_CONCURRENCY, STACKFUL_BACKLOG,
STACKFUL_TIMEOUT, STACKFUL_GRACEFUL_TIMEOUT.
`;

class UsageError extends Error {}

interface Command {
  app: string;
  appArgs: string[];
  workers: number | undefined;
  workerTimeout: number | undefined;
  options: ServingOptions;
}

function count(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = parseCount(text, min);
  if (typeof n === 'string') throw new UsageError(`--${name}: ${n}`);
  return n;
}

/** The command line as a Command; 'help' / 'version' for those; UsageError for anything wrong. */
function parse(argv: string[]): Command | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        workers: { type: 'string', short: 'w' },
        concurrency: { type: 'string', short: 'c' },
        backlog: { type: 'string' },
        timeout: { type: 'string', short: 't' },
        'graceful-timeout': { type: 'string' },
        'max-requests': { type: 'string' },
        'worker-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    // parseArgs' own message names the option ("Unknown option '--x'..."): keep its first sentence.
    throw new UsageError((err as Error).message.split('\n')[0]!.split('. ')[0]!.replace(/\.$/, ''));
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';
  const [command, app, ...rest] = positionals;
  if (command === undefined) throw new UsageError('no command given (the command is serve: stackful serve app.js)');
  if (command !== 'serve') throw new UsageError(`unknown command ${JSON.stringify(command)} (the command is serve: stackful serve app.js)`);
  if (app === undefined) throw new UsageError('serve needs the app file to run: stackful serve app.js');
  // Positionals after the app (and everything after --) go to the app.
  const dashdash = argv.indexOf('--');
  const appArgs = dashdash >= 0 ? argv.slice(dashdash + 1) : rest;
  if (dashdash < 0 && rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}; put the app's own arguments after --`);
  const workers = count('workers', values.workers, 1);
  const maxRequests = count('max-requests', values['max-requests'], 1);
  if (maxRequests !== undefined && workers === undefined) throw new UsageError('--max-requests restarts worker processes, so it needs --workers');
  const workerTimeout = count('worker-timeout', values['worker-timeout'], 0);
  if (workerTimeout !== undefined && workers === undefined) throw new UsageError('--worker-timeout is watched by the primary of --workers, so it needs --workers');
  return {
    app,
    appArgs,
    workers,
    workerTimeout,
    options: {
      concurrency: count('concurrency', values.concurrency, 1) ?? DEFAULT_CONCURRENCY,
      backlog: count('backlog', values.backlog, 0) ?? DEFAULT_BACKLOG,
      timeout: count('timeout', values.timeout, 1),
      gracefulTimeout: count('graceful-timeout', values['graceful-timeout'], 0) ?? DEFAULT_GRACEFUL_TIMEOUT,
      maxRequests,
    },
  };
}

function resolveApp(app: string): string {
  const file = path.resolve(app);
  try {
    if (fs.statSync(file).isFile()) return file;
  } catch {
    // reported below
  }
  throw new UsageError(`cannot find the app file ${JSON.stringify(app)} (looked for ${file})`);
}

function main(argv: string[]): void {
  let command: Command | 'help' | 'version';
  let file: string;
  try {
    command = parse(argv);
    if (command === 'help') {
      process.stdout.write(HELP);
      return;
    }
    if (command === 'version') {
      process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
      return;
    }
    file = resolveApp(command.app);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`stackful: ${err.message} (see stackful --help)\n`);
    process.exit(2);
  }
  const { options, workers, workerTimeout, appArgs } = command;

  if (workers === undefined) {
    // The app runs here, as the main module (require.main === module holds in it).
    startServing(options);
    process.argv = [process.argv[0]!, file, ...appArgs];
    (Module as unknown as { runMain(main?: string): void }).runMain(file);
    return;
  }

  const env: Record<string, string> = {
    [ENV.concurrency]: String(options.concurrency),
    [ENV.backlog]: String(options.backlog),
    [ENV.gracefulTimeout]: String(options.gracefulTimeout),
  };
  if (options.timeout !== undefined) env[ENV.timeout] = String(options.timeout);
  if (options.maxRequests !== undefined) env[ENV.maxRequests] = String(options.maxRequests);
  const supervisor = new Supervisor({
    workers,
    exec: file,
    args: appArgs,
    execArgv: [...process.execArgv, '--require', path.join(__dirname, 'serve.js')],
    env,
    gracefulTimeout: options.gracefulTimeout,
    workerTimeout,
    onGiveUp: () => process.exit(1),
  });
  supervisor.handleSignals(options.gracefulTimeout);
  supervisor.start();
  process.stderr.write(`stackful: primary ${process.pid} started ${workers} worker(s) for ${command.app}: ${supervisor.pids().join(', ')}\n`);
}

main(process.argv.slice(2));
