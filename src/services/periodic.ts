import type { Logger } from 'pino';

/**
 * Runs `task` every `everyMs` until the returned stop is called (it settles once a run in progress
 * has ended); a run never overlaps the previous one of this process, and a failed run is logged as
 * `<name> failed` and tried again at the next interval. The timer does not keep the process alive.
 */
export function startPeriodic(name: string, task: () => Promise<unknown>, logger: Logger, everyMs: number): () => Promise<void> {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .then(() => {}, (err: unknown) => logger.warn({ err }, `${name} failed; retried at the next interval`))
      .finally(() => {
        running = null;
      });
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
