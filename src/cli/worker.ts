import { loadConfig } from '../config.js';
import { createRuntime } from '../runtime.js';
import { stopOnSignals } from './shutdown.js';

/** Runs the outbox workers without the HTTP server; stops gracefully on SIGTERM/SIGINT. */
export async function runWorker(): Promise<void> {
  const runtime = await createRuntime(loadConfig(), { worker: true });
  process.stdout.write(`otpgate worker ${runtime.worker.id} running (store: ${runtime.store.dialect})\n`);
  stopOnSignals(runtime, 'worker');
}
