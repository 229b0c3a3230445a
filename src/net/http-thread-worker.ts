/**
 * The worker thread of http-thread.ts: runs the HTTP clients (undici keep-alive pools, the SSRF
 * guard's connect-time lookup for guarded ones) and answers each request with its status, headers
 * and body, or with the error it ended in. Messages come and go in arrays: what one turn of the event
 * loop asked for, or answered, crosses the thread boundary once.
 */
import { parentPort } from 'node:worker_threads';
import type { LookupFunction } from 'node:net';
import { HttpClient, ResponseTooLargeError } from '../delivery/providers/http-client.js';
import { guardedLookup } from './url-guard.js';
import type { FromThread, ToThread, WireError } from './http-thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('http-thread-worker runs only as a worker thread');

const clients = new Map<number, HttpClient>();
const aborts = new Map<number, AbortController>();
let answers: FromThread[] = [];
let scheduled = false;

function answer(message: FromThread): void {
  answers.push(message);
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    const batch = answers;
    answers = [];
    port!.postMessage(batch);
  });
}

function wire(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const out: WireError = { name: e.name, message: e.message };
  const { code, timeoutMs } = e as { code?: unknown; timeoutMs?: unknown };
  if (typeof code === 'string') out.code = code;
  if (typeof timeoutMs === 'number') out.timeoutMs = timeoutMs;
  return out;
}

function handle(m: ToThread): void {
  switch (m.t) {
    case 'open': {
      if (clients.has(m.client)) return; // sent again after a restart of the main side's queue
      const { guarded, ...options } = m.options;
      clients.set(m.client, new HttpClient(guarded ? { ...options, lookup: guardedLookup(undefined) as unknown as LookupFunction } : options));
      return;
    }
    case 'req': {
      const client = clients.get(m.client);
      if (!client) return answer({ id: m.id, error: { name: 'Error', message: 'HTTP client closed' } });
      let signal: AbortSignal | null = null;
      if (m.abortable) {
        const controller = new AbortController();
        aborts.set(m.id, controller);
        signal = controller.signal;
      }
      client
        .request(m.url, { ...m.init, signal })
        .then(async (res) => {
          let body = '';
          let tooLarge = false;
          try {
            body = await res.text();
          } catch (err) {
            if (!(err instanceof ResponseTooLargeError)) throw err;
            tooLarge = true;
          }
          answer({ id: m.id, status: res.status, headers: res.headers, body, tooLarge });
        })
        .catch((err: unknown) => answer({ id: m.id, error: wire(err) }))
        .finally(() => aborts.delete(m.id));
      return;
    }
    case 'abort':
      aborts.get(m.id)?.abort(new Error('aborted'));
      return;
    case 'close': {
      const client = clients.get(m.client);
      clients.delete(m.client);
      void (client?.close() ?? Promise.resolve()).finally(() => answer({ id: m.id, closed: true }));
      return;
    }
  }
}

port.on('message', (batch: ToThread[]) => {
  for (const m of batch) handle(m);
});
