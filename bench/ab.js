// Developer tool: compares two builds of otpgate on the embedded store by what a send and a check
// cost the server's main thread (its event loop, what limits a Node server), all their work
// included: the request, the delivery to the sandbox and the webhooks it raises, until the receiver
// has had nothing new for a second. Rounds alternate the builds (A B B A A B …) on fresh servers, so
// drift of this shared machine falls on both; req/s are printed too, but the CPU figures are the
// ones to compare.
//   node bench/ab.js --a <dist/cli/index.js of build A> [--b <build B>, default this checkout's dist]
//                    [--rounds 4] [--duration 5] [--connections 50] [--webhook '*'|<events>|none]
// Build both first (npm run build; for an older revision: git worktree add, link node_modules, build).
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoads } from './lib/load.js';
import { collectSandboxCodes, configureWebhook, createBenchIntegration } from './lib/otpgate-api.js';
import { brazilianMobile } from './lib/phases.js';
import { cleanup, mainThreadCpuMs } from './lib/processes.js';
import { startFakeReceiver, startOtpgate } from './lib/servers.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: join(fileURLToPath(new URL('../', import.meta.url)), 'dist', 'cli', 'index.js') },
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    webhook: { type: 'string', default: '*' },
  },
});
if (!values.a) {
  process.stderr.write('usage: node bench/ab.js --a <path to build A\'s dist/cli/index.js> [--b <build B>] [--rounds 4] [--duration 5]\n');
  process.exit(2);
}
const print = (text) => process.stdout.write(`${text}\n`);
const duration = Number(values.duration);
const connections = Number(values.connections);
const headers = (apiKey) => ({ 'content-type': 'application/json', 'x-api-key': apiKey });

/** Waits until the receiver's count has not grown for a second (at most 60 s). */
async function quiet(receiver) {
  if (!receiver) return;
  const deadline = Date.now() + 60_000;
  let last = (await receiver.counts()).received;
  while (Date.now() < deadline) {
    await sleep(1000);
    const now = (await receiver.counts()).received;
    if (now === last) return;
    last = now;
  }
}

/** One round of one build: request then check load; main-thread ms per response for each, their work drained. */
async function round(cli, receiver, first) {
  const server = await startOtpgate(receiver?.env ?? {}, { name: 'otpgate-ab', cli });
  try {
    const apiKey = await createBenchIntegration(server);
    if (receiver) await configureWebhook(server, apiKey, receiver.url, values.webhook.split(','));
    let next = first;
    const send = (seconds) => runLoads(
      [{ label: 'request', url: `${server.url}/v1/verifications`, method: 'POST', headers: headers(apiKey), connections, duration: seconds,
        requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(next++) }); return req; } }] }],
      201,
    );
    await send(2); // warm-up, not measured
    await quiet(receiver);
    const pid = server.child.pid;
    let cpu = mainThreadCpuMs(pid);
    const request = await send(duration);
    await quiet(receiver);
    const requestMs = (mainThreadCpuMs(pid) - cpu) / request.expected;
    const pairs = await collectSandboxCodes(server, apiKey, next - first); // the warm-up's codes are checked too
    let index = 0;
    cpu = mainThreadCpuMs(pid);
    const check = await runLoads(
      [{ label: 'check', url: `${server.url}/v1/verifications/check`, method: 'POST', headers: headers(apiKey), connections, amount: pairs.length,
        requests: [{ setupRequest(req) { const { identifier, code } = pairs[index++]; req.body = JSON.stringify({ identifier, code }); return req; } }] }],
      200,
    );
    await quiet(receiver);
    const checkMs = (mainThreadCpuMs(pid) - cpu) / check.expected;
    return { requestMs, checkMs, requestRps: request.rps, checkRps: check.rps };
  } finally {
    await server.stop();
  }
}

const median = (list) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];
try {
  const receiver = values.webhook === 'none' ? null : await startFakeReceiver();
  const results = { A: [], B: [] };
  const order = [];
  for (let i = 0; i < Number(values.rounds); i++) order.push(...(i % 2 === 0 ? ['A', 'B'] : ['B', 'A']));
  let number = 0;
  for (const which of order) {
    const r = await round(which === 'A' ? values.a : values.b, receiver, number);
    number += 1_000_000;
    results[which].push(r);
    print(`${which}: send ${r.requestMs.toFixed(3)} ms, check ${r.checkMs.toFixed(3)} ms main-thread CPU per response (${r.requestRps.toFixed(0)} / ${r.checkRps.toFixed(0)} req/s)`);
  }
  for (const which of ['A', 'B']) {
    const list = results[which];
    print(`${which} median: send ${median(list.map((r) => r.requestMs)).toFixed(3)} ms, check ${median(list.map((r) => r.checkMs)).toFixed(3)} ms`);
  }
} finally {
  await cleanup();
}
