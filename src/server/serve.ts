/**
 * Preload entry: serve an unchanged app with one fiber per request.
 *   node --import stackful/serve app.js
 *   node --require stackful/serve app.js
 *
 * Installs the IO hooks (as stackful/register does), makes every http / https
 * server the app creates handle each request in a greenlet of its own, and
 * makes SIGTERM / SIGINT close those servers gracefully and exit. The app
 * still calls listen() itself. Options come from the environment (the
 * `stackful serve` command sets them from its flags):
 *   STACKFUL_CONCURRENCY      requests handled at once per process (1000)
 *   STACKFUL_BACKLOG          requests waiting for a slot before 503 (1000)
 *   STACKFUL_TIMEOUT          ms a request may take; then 503 (no limit)
 *   STACKFUL_GRACEFUL_TIMEOUT ms requests get to finish on shutdown (30000)
 *   STACKFUL_MAX_REQUESTS     in a cluster worker: restart after this many
 */
import { startServing, optionsFromEnv } from './serving.js';

const options = optionsFromEnv(process.env);
if (typeof options === 'string') {
  process.stderr.write(`stackful/serve: ${options}\n`);
  process.exit(2);
}
startServing(options);
