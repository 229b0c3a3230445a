// Developer tool: a CPU profile of one otpgate server under the request load, then (with --live) the
// live load through the fake WhatsApp Cloud API, then the check load, then the authorize load (the
// benchmark's phases, on a warm server), summarised per phase by self time.
//   node bench/profile.js [--duration 5] [--connections 50] [--top 40] [--by function|package|total] [--live]
//                         [--webhook <events>] [--store sqlite|postgres]
// --webhook: the integrations get a webhook for these event types (e.g. '*') to the bench's receiver.
// --store postgres: on a throwaway database (OTPGATE_BENCH_DATABASE_URL) with Redis
// (OTPGATE_BENCH_REDIS_URL), warmed by `--duration` seconds of sends and then ANALYZEd, as the
// benchmark does.
// --by total: otpgate's own functions (dist/) by total time, their callees included (where the time
// goes in otpgate's code rather than in which library function it is finally spent).
// With --webhook, each phase's webhooks are sent (the receiver quiet for a second) before the next
// phase starts, as in the benchmark, so a phase's samples do not include the previous one's webhooks.
// The .cpuprofile file (open it in Chrome DevTools) is kept in the directory it names.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runLoads } from './lib/load.js';
import { collectSandboxCodes, configureWebhook, createBenchIntegration, LIVE_BENCH_POLICY } from './lib/otpgate-api.js';
import { brazilianMobile } from './lib/phases.js';
import { analyzeDatabase, createThrowawayDatabase, DEFAULT_ADMIN_DATABASE_URL, DEFAULT_REDIS_URL } from './lib/postgres.js';
import { cleanup } from './lib/processes.js';
import { startFakeReceiver, startFakeWhatsApp, startOtpgate } from './lib/servers.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    top: { type: 'string', default: '40' },
    by: { type: 'string', default: 'function' },
    live: { type: 'boolean', default: false },
    webhook: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
  },
});
const print = (text) => process.stdout.write(`${text}\n`);
const duration = Number(values.duration);
const connections = Number(values.connections);
const dir = await mkdtemp(join(tmpdir(), 'otpgate-profile-'));
/** Microseconds on the monotonic clock V8's profiler stamps its samples with. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const headers = (apiKey) => ({ 'content-type': 'application/json', 'x-api-key': apiKey });

function label(frame) {
  const { functionName, url, lineNumber } = frame;
  if (values.by === 'package') {
    if (url.includes('node_modules/')) return url.replace(/^.*node_modules\//, '').split('/')[0];
    if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
    if (url.includes('/dist/')) return `otpgate/${url.replace(/^.*\/dist\//, '').split('/')[0]}`;
    return functionName || '(native)';
  }
  return `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '~').replace(/^.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
}

/**
 * Self time per label of the samples taken between fromUs and toUs, idle excluded; with --by total,
 * total time (each sample counted once for every distinct otpgate function on its stack).
 */
function summarize(profile, name, fromUs, toUs) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const counts = new Map();
  let at = profile.startTime;
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    if (at < fromUs || at > toUs) return;
    const frame = byId.get(id).callFrame;
    if (frame.functionName === '(idle)' || frame.functionName === '(program)') return void idle++;
    busy++;
    const keys = new Set();
    if (values.by === 'total') {
      for (let node = id; node !== undefined; node = parent.get(node)) {
        const { callFrame } = byId.get(node);
        if (callFrame.url.includes('/dist/') && !callFrame.url.includes('node_modules/')) keys.add(label(callFrame));
      }
    } else keys.add(label(frame));
    for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  });
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  print(`\n${name}: ${busy} busy samples, ${idle} idle${values.by === 'total' ? ' (total time of otpgate functions, callees included)' : ''}`);
  for (const [key, n] of rows) print(`${((100 * n) / busy).toFixed(1).padStart(5)}%  ${key}`);
}

/** Waits until the webhook receiver has had nothing new for a second (at most 60 s), as the benchmark does between phases. */
async function webhooksSent(receiver) {
  if (!receiver) return;
  const deadline = Date.now() + 60_000;
  let last = (await receiver.counts()).received;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = (await receiver.counts()).received;
    if (now === last) return;
    last = now;
  }
}

try {
  const whatsapp = values.live ? await startFakeWhatsApp() : null;
  const receiver = values.webhook ? await startFakeReceiver() : null;
  const events = values.webhook?.split(',') ?? [];
  const database = values.store === 'postgres' ? await createThrowawayDatabase(process.env.OTPGATE_BENCH_DATABASE_URL || DEFAULT_ADMIN_DATABASE_URL) : null;
  const storeEnv = database
    ? { OTPGATE_DATABASE_URL: database.url, OTPGATE_REDIS_URL: process.env.OTPGATE_BENCH_REDIS_URL || DEFAULT_REDIS_URL, OTPGATE_SECRET: randomBytes(32).toString('base64url') }
    : {};
  const server = await startOtpgate({ ...whatsapp?.env, ...receiver?.env, ...storeEnv }, { name: 'otpgate-profiled', nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  const apiKey = await createBenchIntegration(server);
  if (receiver) await configureWebhook(server, apiKey, receiver.url, events);
  let next = 0;
  if (database) {
    await runLoads(
      [{ label: 'warm-up', url: `${server.url}/v1/verifications`, method: 'POST', headers: headers(apiKey), connections, duration,
        requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(90_000_000 + next++) }); return req; } }] }],
      201,
    );
    await analyzeDatabase(database.url);
    next = 0;
  }
  const requestFrom = nowUs();
  const request = await runLoads(
    [{ label: 'request', url: `${server.url}/v1/verifications`, method: 'POST', headers: headers(apiKey), connections, duration,
      requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(next++) }); return req; } }] }],
    201,
  );
  const requestTo = nowUs();
  print(`request: ${request.rps.toFixed(0)} req/s`);
  await webhooksSent(receiver);
  const pairs = await collectSandboxCodes(server, apiKey, request.expected);
  let live = null;
  if (whatsapp) {
    const liveKey = await createBenchIntegration(server, { name: 'bench-live', policy: LIVE_BENCH_POLICY, mode: 'live' });
    if (receiver) await configureWebhook(server, liveKey, receiver.url, events);
    let number = 50_000_000;
    const from = nowUs();
    const result = await runLoads(
      [{ label: 'live', url: `${server.url}/v1/verifications`, method: 'POST', headers: headers(liveKey), connections, duration,
        requests: [{ setupRequest(req) { req.body = JSON.stringify({ identifier: brazilianMobile(number++) }); return req; } }] }],
      201,
    );
    live = { from, to: nowUs() };
    print(`live: ${result.rps.toFixed(0)} req/s (${(result.rps / request.rps).toFixed(3)}x request)`);
    // Let delivery catch up before the check phase, outside the live phase's window.
    const deadline = Date.now() + 60_000;
    while ((await whatsapp.counts()).received < result.expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await webhooksSent(receiver);
  }
  let index = 0;
  const sessions = [];
  const checkFrom = nowUs();
  const check = await runLoads(
    [{ label: 'check', url: `${server.url}/v1/verifications/check`, method: 'POST', headers: headers(apiKey), connections, amount: pairs.length,
      requests: [{
        setupRequest(req) { const { identifier, code } = pairs[index++]; req.body = JSON.stringify({ identifier, code }); return req; },
        onResponse(status, body) { if (status === 200 && sessions.length < 200) sessions.push(JSON.parse(body).otp_session); },
      }] }],
    200,
  );
  const checkTo = nowUs();
  print(`check: ${check.rps.toFixed(0)} req/s, ${check.unexpected} unexpected`);
  await webhooksSent(receiver);
  // The authorize phase: a gated action with the sessions the checks issued, as the benchmark's.
  let nextSession = 0;
  const authorizeFrom = nowUs();
  const authorize = await runLoads(
    [{ label: 'authorize', url: `${server.url}/v1/authorize`, method: 'POST', headers: headers(apiKey), connections, duration, body: JSON.stringify({ action: 'redemption' }),
      requests: [{ setupRequest(req) { req.headers = { ...req.headers, 'x-otp-session': sessions[nextSession++ % sessions.length] }; return req; } }] }],
    200,
  );
  const authorizeTo = nowUs();
  print(`authorize: ${authorize.rps.toFixed(0)} req/s, ${authorize.unexpected} unexpected`);
  await server.stop();
  const [file] = await readdir(dir);
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8'));
  print(`profile: ${join(dir, file)}`);
  summarize(profile, 'request phase', requestFrom, requestTo);
  if (live) summarize(profile, 'live phase', live.from, live.to);
  summarize(profile, 'check phase', checkFrom, checkTo);
  summarize(profile, 'authorize phase', authorizeFrom, authorizeTo);
} finally {
  await cleanup();
}
