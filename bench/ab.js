// Developer tool: compares two builds of otpgate on the embedded store by what a send and a check
// cost the server's main thread (its event loop, what limits a Node server), all their work
// included: the request, the delivery to the sandbox and the webhooks it raises, until the receiver
// has had nothing new for a second. Rounds alternate the builds (A B B A A B …) on fresh servers, so
// drift of this shared machine falls on both; with --together both builds run at once, each with half
// the connections, so a slow moment of the machine falls on both alike (the CPU per response is
// what to compare; their req/s then share the machine).
//   node bench/ab.js --a <dist/cli/index.js of build A> [--b <build B>, default this checkout's dist]
//                    [--rounds 4] [--duration 5] [--connections 50] [--webhook '*'|<events>|none] [--together]
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
    together: { type: 'boolean', default: false },
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

/** A started server of one build, with its bench integration (and webhook). */
async function prepare(cli, receiver) {
  const server = await startOtpgate(receiver?.env ?? {}, { name: 'otpgate-ab', cli });
  const apiKey = await createBenchIntegration(server);
  if (receiver) await configureWebhook(server, apiKey, receiver.url, values.webhook.split(','));
  return { server, apiKey, sent: 0 };
}

/** The autocannon options of a send load on `target` for `seconds`, numbers from `first` on. */
function sendLoad(target, first, seconds, share) {
  return { label: 'request', url: `${target.server.url}/v1/verifications`, method: 'POST', headers: headers(target.apiKey), connections: share, duration: seconds,
    requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(first + target.sent++) }); return req; } }] };
}

/**
 * Sends then checks on every target at once (each with its share of the connections), and returns
 * each one's main-thread CPU per send and per check, its work drained (the receiver quiet).
 */
async function measure(targets, receiver, first) {
  const share = Math.max(1, Math.floor(connections / targets.length));
  await runLoads(targets.map((t, i) => sendLoad(t, first + i * 100_000_000, 2, share)), 201); // warm-up
  await quiet(receiver);
  const cpu = () => targets.map((t) => mainThreadCpuMs(t.server.child.pid));
  let before = cpu();
  const request = await runLoads(targets.map((t, i) => sendLoad(t, first + i * 100_000_000, duration, share)), 201);
  await quiet(receiver);
  const requestMs = cpu().map((ms, i) => (ms - before[i]) / request.parts[i].responses);
  const pairs = await Promise.all(targets.map((t) => collectSandboxCodes(t.server, t.apiKey, t.sent))); // the warm-up's codes are checked too
  before = cpu();
  const check = await runLoads(targets.map((t, i) => {
    let index = 0;
    return { label: 'check', url: `${t.server.url}/v1/verifications/check`, method: 'POST', headers: headers(t.apiKey), connections: share, amount: pairs[i].length,
      requests: [{ setupRequest(req) { const { identifier, code } = pairs[i][index++]; req.body = JSON.stringify({ identifier, code }); return req; } }] };
  }), 200);
  await quiet(receiver);
  const checkMs = cpu().map((ms, i) => (ms - before[i]) / check.parts[i].responses);
  return targets.map((_, i) => ({ requestMs: requestMs[i], checkMs: checkMs[i], requestRps: request.parts[i].rps, checkRps: check.parts[i].rps }));
}

const median = (list) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];
try {
  const receiver = values.webhook === 'none' ? null : await startFakeReceiver();
  const results = { A: [], B: [] };
  const show = (which, r) => print(`${which}: send ${r.requestMs.toFixed(3)} ms, check ${r.checkMs.toFixed(3)} ms main-thread CPU per response (${r.requestRps.toFixed(0)} / ${r.checkRps.toFixed(0)} req/s)`);
  for (let i = 0; i < Number(values.rounds); i++) {
    const first = i * 10_000_000;
    if (values.together) {
      const targets = [await prepare(values.a, receiver), await prepare(values.b, receiver)];
      try {
        const [a, b] = await measure(targets, receiver, first);
        results.A.push(a);
        results.B.push(b);
        show('A', a);
        show('B', b);
      } finally {
        await Promise.all(targets.map((t) => t.server.stop()));
      }
      continue;
    }
    for (const which of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      const target = await prepare(which === 'A' ? values.a : values.b, receiver);
      try {
        const [r] = await measure([target], receiver, first);
        results[which].push(r);
        show(which, r);
      } finally {
        await target.server.stop();
      }
    }
  }
  for (const which of ['A', 'B']) {
    const list = results[which];
    print(`${which} median: send ${median(list.map((r) => r.requestMs)).toFixed(3)} ms, check ${median(list.map((r) => r.checkMs)).toFixed(3)} ms`);
  }
} finally {
  await cleanup();
}
