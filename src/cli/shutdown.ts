import type { Runtime } from '../runtime.js';

/**
 * Graceful stop on SIGTERM/SIGINT: stop accepting, finish in-flight requests and the outbox batch
 * in hand, release unfinished claims, close the stores, exit 0 (or 1 if that takes longer than `config.shutdownTimeoutMs`, 15 s by default).
 */
export function stopOnSignals(runtime: Runtime, what: string): void {
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    runtime.logger.info({ signal }, `${what}: shutting down, draining requests and releasing claimed work`);
    const force = setTimeout(() => process.exit(1), runtime.config.shutdownTimeoutMs);
    force.unref();
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
