import { loadConfig } from '../config.js';
import { createRuntime } from '../runtime.js';

/** Runs the outbox workers without the HTTP server; stops gracefully on SIGTERM/SIGINT. */
export async function runWorker(): Promise<void> {
  const runtime = await createRuntime(loadConfig(), { worker: true });
  process.stdout.write(`otpgate worker ${runtime.worker.id} running (store: ${runtime.store.dialect})\n`);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    runtime.logger.info({ signal }, 'worker: finishing the batch in hand and releasing claims');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
