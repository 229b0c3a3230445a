import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * A worker thread with its own connection that checkpoints the embedded store's WAL into the
 * database file every `intervalMs` (PASSIVE: it never waits for, nor blocks, the server's writes).
 *
 * Why: SQLite checkpoints inside the COMMIT that pushes the WAL past `wal_autocheckpoint` pages, on
 * the thread that commits: copying the pages and the fsyncs that follow then stall the event loop
 * (about a tenth of a send's cost under load). Here that work runs beside it, on another core. The
 * server's connection keeps a high autocheckpoint as a backstop, so the WAL stays bounded even if
 * this thread falls behind or dies.
 */
export interface Checkpointer {
  stop(): Promise<void>;
}

// Plain CommonJS run with `eval`, so the same code works from src/ (tests) and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
let failures = 0;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failures = 0;
  } catch (error) {
    if (++failures === 1) parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(path: string, options: { intervalMs: number; onError?: (message: string) => void }): Checkpointer {
  const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, betterSqlite3, intervalMs: options.intervalMs } });
  worker.unref(); // never what keeps the process alive
  worker.on('message', (message: { error?: string }) => {
    if (message.error) options.onError?.(message.error);
  });
  worker.on('error', (error) => options.onError?.(error.message));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      worker.postMessage('stop');
      const timeout = setTimeout(() => void worker.terminate(), 2000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
