// Developer tool: what one outgoing call (a webhook attempt, a provider API call) costs the main
// thread's event loop, made there (HttpClient) or handed to the worker thread (ThreadedHttpClient,
// src/net/http-thread.ts), against the benchmark's webhook receiver in its own process.
//   node bench/http-thread.js [--calls 20000] [--concurrency 16] [--rounds 2]
// Prints calls/s and the main thread's busy time per call (event-loop utilisation), per client.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { HttpClient } from '../dist/delivery/providers/http-client.js';
import { sharedHttpThread, ThreadedHttpClient } from '../dist/net/http-thread.js';
import { cleanup } from './lib/processes.js';
import { startFakeReceiver } from './lib/servers.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const print = (text) => process.stdout.write(`${text}\n`);

const receiver = await startFakeReceiver();
const url = receiver.url;
const body = JSON.stringify({ id: 'evt_bench', type: 'verification.approved', created_at: new Date().toISOString(), data: { filler: 'x'.repeat(500) } });
const headers = { 'content-type': 'application/json', 'user-agent': 'otpgate', 'webhook-id': 'evt_bench', 'webhook-timestamp': '1', 'webhook-signature': 'v1,bench' };

async function measure(label, client) {
  const before = performance.eventLoopUtilization();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < calls) {
        const res = await client.request(url, { method: 'POST', headers, body, timeoutMs: 10_000 });
        if (res.status !== 204) throw new Error(`the receiver answered ${res.status}`);
      }
    }),
  );
  const elu = performance.eventLoopUtilization(before);
  const ms = performance.now() - started;
  print(`${label.padEnd(22)} ${Math.round((calls / ms) * 1000).toString().padStart(7)} calls/s   main thread busy ${((elu.active / calls) * 1000).toFixed(1).padStart(5)} µs per call`);
}

try {
  const thread = sharedHttpThread();
  if (!thread) throw new Error('no built http-thread-worker.js: run npm run build first');
  const direct = new HttpClient({ maxBodyBytes: 64 * 1024 });
  const threaded = new ThreadedHttpClient(thread, { maxBodyBytes: 64 * 1024 });
  for (let round = 0; round < Number(values.rounds); round++) {
    await measure('main thread', direct);
    await measure('worker thread', threaded);
  }
  await Promise.all([direct.close(), threaded.close()]);
  await thread.stop();
} finally {
  await cleanup();
}
