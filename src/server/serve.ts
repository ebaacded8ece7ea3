/**
 * Preload entry: serve an unchanged app with one fiber per request.
 *   node --import stackful/serve app.js
 *   node --require stackful/serve app.js
 *
 * Installs the IO hooks (as stackful/register does), makes every http / https
 * server the app creates handle each request in a greenlet of its own, and
 * makes SIGTERM / SIGINT close those servers gracefully and exit. The app
 * still calls listen() itself. Options come from the environment (the
 * `stackful serve` command sets them from its flags; core/settings.ts lists
 * and reads them all).
 */
import { servingEnv } from '../core/settings.js';
import { startServing, optionsFromEnv } from './serving.js';

const options = optionsFromEnv(servingEnv());
if (typeof options === 'string') {
  process.stderr.write(`stackful/serve: ${options}\n`);
  process.exit(2);
}
startServing(options);
