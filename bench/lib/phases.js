// The measured phases, run in this order. A phase is:
//   name, description  for the report and the JSON keys (<name>_rps, <name>_p99_ms, <name>_ratio)
//   server             'bare' or 'otpgate': which server run.js must start for it
//   expect             the status every response should have
//   floor              minimum rps as a fraction of the baseline's (none for the baseline itself)
//   versus             optional { phase, floor }: minimum rps as a fraction of another phase's
//                      of the same run
//   provider           optional 'whatsapp': the otpgate processes must be started pointed at the
//                      fake WhatsApp Cloud API (ctx.servers.whatsapp), and ctx.liveApiKey made
//   skip(ctx)          optional: a reason not to run (counts as a failed run)
//   before(ctx)        optional: runs just before the load
//   load(ctx)          autocannon options, or a list of them to run at once (one per otpgate
//                      process; their figures are merged by runLoads); `label` names each target
//   after(ctx, result) optional: runs once the load is done (e.g. to prepare the next phase); may set
//                      ctx.details[name] (a line for the report) and ctx.figures[name] (JSON keys)
// ctx: { options, log, servers: { bare, otpgate, whatsapp, ... }, otpgates: [process 1, ...],
//   otpgateCpuProcesses: [the otpgates, and `otpgate worker` when it runs apart], apiKey,
//        liveApiKey, notes[], problems[], details{}, figures{}, ...state between phases }.
//        servers.otpgate is process 1 (it made the integrations).
// With several otpgate processes the connections are split between them, counters are shared so
// each number (request) and each code (check) goes to exactly one process, and any session (from
// either process) is used on both (authorize).
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestJson } from './http.js';
import { runLoads } from './load.js';
import { collectSandboxCodes, readMetrics } from './otpgate-api.js';
import { serversCpuMs } from './processes.js';

/** Below this many pairs the check phase is too short to say much: the report says so. */
const FEW_CHECKS = 2000;
const JSON_HEADERS = { 'content-type': 'application/json' };
/** How long after its last response the live phase waits for the fake WhatsApp to get every message. */
const DRAIN_DEADLINE_MS = 60_000;
/** The live phase's numbers: a range of its own, far from the request phase's. */
const LIVE_NUMBERS_FROM = 50_000_000;
/** The inbox phase's numbers, again a range of their own. */
const INBOX_PHASE_NUMBERS_FROM = 70_000_000;
/** The warm-up's numbers (warmUpLoads), a range of their own. */
const WARMUP_NUMBERS_FROM = 90_000_000;
/** Long-polls the inbox phase holds open while its sends run. */
const HELD_LONG_POLLS = 1000;
/** Their `wait` (the most the API allows): longer than the phase, so none ends by itself. */
const LONG_POLL_WAIT_S = 60;

/** The n-th of 10^8 distinct valid Brazilian mobile numbers: +55, area 11, 9, 8 digits. */
export function brazilianMobile(n) {
  return `+55119${String(n % 100_000_000).padStart(8, '0')}`;
}

/** `total` as `parts` integers that differ by at most one, larger first. */
export function splitEvenly(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * One set of autocannon options per otpgate process, the connections split between them:
 * build(base, index) adds to base (url, method, headers, connections, label) what the phase needs.
 */
function perProcess(ctx, path, build, apiKey = ctx.apiKey) {
  const shares = splitEvenly(ctx.options.connections, ctx.otpgates.length);
  return ctx.otpgates.map((server, index) =>
    build(
      {
        label: server.name,
        url: `${server.url}${path}`,
        method: 'POST',
        headers: { ...JSON_HEADERS, 'x-api-key': apiKey },
        connections: shares[index],
      },
      index,
    ),
  );
}

export const phases = [
  {
    name: 'baseline',
    description: 'bare Fastify 5, POST /echo',
    server: 'bare',
    expect: 200,
    load: (ctx) => ({
      label: 'bare',
      url: `${ctx.servers.bare.url}/echo`,
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ identifier: brazilianMobile(0) }),
      connections: ctx.options.connections,
      duration: ctx.options.duration,
    }),
  },
  {
    name: 'request',
    description: 'POST /v1/verifications, a new number each time',
    server: 'otpgate',
    expect: 201,
    floor: 0.1,
    load(ctx) {
      let next = 0; // shared by the processes' runs: every number is new to all of them
      const requests = [
        {
          setupRequest(req) {
            req.body = JSON.stringify({ identifier: brazilianMobile(next++) });
            return req;
          },
        },
      ];
      return perProcess(ctx, '/v1/verifications', (base) => ({ ...base, duration: ctx.options.duration, requests }));
    },
    async after(ctx, result) {
      ctx.log(`request: waiting for the sandbox to capture ${result.expected} messages`);
      // The sandbox also holds the warm-up's messages, whose codes the warm-up already checked.
      const warmedUp = ctx.warmedUp ?? new Set();
      const captured = await collectSandboxCodes(ctx.servers.otpgate, ctx.apiKey, result.expected + warmedUp.size);
      ctx.pairs = captured.filter((pair) => !warmedUp.has(pair.identifier));
      if (ctx.pairs.length < result.expected) {
        ctx.problems.push(`request: only ${ctx.pairs.length} of ${result.expected} verifications had a captured message after 30 s without progress`);
      }
    },
  },
  {
    name: 'inboxes',
    description: `the request phase's sends while ${HELD_LONG_POLLS} long-polls (GET /v1/sandbox/inboxes/{id}?wait=${LONG_POLL_WAIT_S}) wait for codes that do not come`,
    server: 'otpgate',
    expect: 201,
    versus: { phase: 'request', floor: 0.8 },
    skip: (ctx) => (ctx.options.duration >= LONG_POLL_WAIT_S - 5 ? `--duration must be under ${LONG_POLL_WAIT_S - 5} s (the long-polls wait ${LONG_POLL_WAIT_S} s)` : null),
    async before(ctx) {
      ctx.heldPolls = await holdLongPolls(ctx, HELD_LONG_POLLS);
    },
    load(ctx) {
      let next = INBOX_PHASE_NUMBERS_FROM;
      const requests = [
        {
          setupRequest(req) {
            req.body = JSON.stringify({ identifier: brazilianMobile(next++) });
            return req;
          },
        },
      ];
      return perProcess(ctx, '/v1/verifications', (base) => ({ ...base, duration: ctx.options.duration, requests }));
    },
    after(ctx) {
      const held = ctx.heldPolls;
      const early = held.answered();
      held.release();
      (ctx.details.inboxes ??= []).push(`${held.count} long-polls held open through the load (spread over the otpgate processes); ${early.length} answered before it ended`);
      ctx.figures.inboxes = { ...ctx.figures.inboxes, inboxes_held_long_polls: held.count, inboxes_answered_early: early.length };
      if (early.length > 0) ctx.problems.push(`inboxes: ${early.length} long-polls answered before the load ended (statuses ${JSON.stringify(countBy(early))}): they were not held`);
    },
  },
  {
    name: 'live',
    description: 'POST /v1/verifications, live key, a new number each time, sent through the fake WhatsApp Cloud API',
    server: 'otpgate',
    provider: 'whatsapp',
    expect: 201,
    versus: { phase: 'request', floor: 0.8 },
    async before(ctx) {
      ctx.whatsappBefore = await ctx.servers.whatsapp.counts();
      ctx.liveCpuBefore = serversCpuMs(ctx.otpgateCpuProcesses);
    },
    load(ctx) {
      let next = LIVE_NUMBERS_FROM;
      const requests = [
        {
          setupRequest(req) {
            req.body = JSON.stringify({ identifier: brazilianMobile(next++) });
            return req;
          },
        },
      ];
      return perProcess(ctx, '/v1/verifications', (base) => ({ ...base, duration: ctx.options.duration, requests }), ctx.liveApiKey);
    },
    async after(ctx, result) {
      await drainLive(ctx, result);
    },
  },
  {
    name: 'check',
    description: 'POST /v1/verifications/check, right code, each once',
    server: 'otpgate',
    expect: 200,
    floor: 0.15,
    skip: (ctx) => (ctx.pairs?.length ? null : 'no identifier/code pairs from the request phase'),
    load(ctx) {
      const pairs = ctx.pairs;
      if (pairs.length < FEW_CHECKS) {
        ctx.notes.push(`check: only ${pairs.length} codes to check (< ${FEW_CHECKS}), a short run: its figures are rough`);
      }
      return checkLoads(ctx, pairs, sessions); // keeps a few sessions for the authorize phase
    },
  },
  {
    name: 'authorize',
    description: 'POST /v1/authorize, a gated action with a valid X-OTP-Session',
    server: 'otpgate',
    expect: 200,
    floor: 0.3,
    skip: () => (sessions.length ? null : 'no OTP sessions from the check phase'),
    load: (ctx) => authorizeLoads(ctx, sessions, ctx.options.duration),
  },
];

/** OTP sessions returned by the check phase, used by the authorize phase. */
const sessions = [];

/**
 * A check of each of `pairs`' codes, once, spread over the otpgate processes; up to 200 of the
 * sessions the approvals issue are pushed onto `keep`.
 */
function checkLoads(ctx, pairs, keep) {
  let next = 0; // shared by the processes' runs: each code is sent once, to one of them
  const requests = [
    {
      setupRequest(req) {
        // Only a reconnect can ask for more than `amount` bodies; a reused code then fails visibly.
        const { identifier, code } = pairs[next++ % pairs.length];
        req.body = JSON.stringify({ identifier, code });
        return req;
      },
      onResponse(status, body) {
        if (status === 200 && keep.length < 200) keep.push(JSON.parse(body).otp_session);
      },
    },
  ];
  // One request per code: the amounts add up to the pairs, which stops autocannon before any
  // code is reused.
  const amounts = splitEvenly(pairs.length, ctx.otpgates.length);
  return perProcess(ctx, '/v1/verifications/check', (base, index) => ({
    ...base,
    amount: amounts[index],
    connections: Math.min(base.connections, amounts[index]),
    requests,
  })).filter((load) => load.amount > 0);
}

/** `seconds` of gated actions on every otpgate process, each request with one of `otpSessions`. */
function authorizeLoads(ctx, otpSessions, seconds) {
  let next = 0;
  const requests = [
    {
      setupRequest(req) {
        req.headers = { ...req.headers, 'x-otp-session': otpSessions[next++ % otpSessions.length] };
        return req;
      },
    },
  ];
  return perProcess(ctx, '/v1/authorize', (base) => ({ ...base, duration: seconds, body: JSON.stringify({ action: 'redemption' }), requests }));
}

/** Sums the samples of `name` in the otpgate processes' metrics, by the value of `label` (zeros left out). */
async function metricTotals(ctx, name, label, where = () => true) {
  const samples = (await Promise.all(ctx.otpgates.map((server) => readMetrics(server, [name])))).flat();
  const totals = {};
  for (const sample of samples) {
    if (sample.value > 0 && where(sample.labels)) totals[sample.labels[label]] = (totals[sample.labels[label]] ?? 0) + sample.value;
  }
  return totals;
}

const sum = (totals) => Object.values(totals).reduce((a, b) => a + b, 0);

/** Live sends otpgate accepted (committed, counted in otpgate_sends_total), across the processes. */
async function acceptedLiveSends(ctx) {
  return sum(await metricTotals(ctx, 'otpgate_sends_total', 'channel', (labels) => labels.mode === 'live'));
}

/**
 * After the live phase: waits (up to DRAIN_DEADLINE_MS after the last response) until the fake
 * WhatsApp has received every message otpgate accepted (at least as many as the phase got 201s; a
 * few more when requests still in flight as autocannon stopped were committed), then reports what
 * it received during the load and after it, its CPU time, and what otpgate's metrics say about the
 * provider calls and the fraud guard.
 */
async function drainLive(ctx, result) {
  const fake = ctx.servers.whatsapp;
  const before = ctx.whatsappBefore;
  const delivered = (counts) => counts.received - before.received;
  const atEnd = await fake.counts();
  let accepted = Math.max(result.expected, await acceptedLiveSends(ctx));
  ctx.log(`live: waiting for the fake WhatsApp to receive ${accepted} messages`);
  let counts = atEnd;
  let lastAcceptedRead = performance.now();
  for (;;) {
    if (delivered(counts) >= accepted) {
      // Done, unless a request that was still in flight has been accepted since.
      accepted = Math.max(accepted, await acceptedLiveSends(ctx));
      if (delivered(counts) >= accepted) break;
    }
    if (performance.now() - result.lastResponseAt > DRAIN_DEADLINE_MS) break;
    await sleep(25);
    counts = await fake.counts();
    if (performance.now() - lastAcceptedRead > 1000) {
      accepted = Math.max(accepted, await acceptedLiveSends(ctx));
      lastAcceptedRead = performance.now();
    }
  }
  const drainMs = Math.max(0, performance.now() - result.lastResponseAt);
  const drained = delivered(counts) >= accepted;
  // During the load: how much of the machine the fake took next to otpgate and autocannon.
  const loadSeconds = (result.lastResponseAt - result.startedAt) / 1000;
  const cpuMs = atEnd.cpu_ms - before.cpu_ms;
  const duplicates = counts.duplicates - before.duplicates;
  const rejected = counts.rejected - before.rejected;
  // otpgate's CPU from the start of the load to the last delivery: what a live send costs in all.
  const cpuAfter = serversCpuMs(ctx.otpgateCpuProcesses);
  const cpuPerSend = cpuAfter === null || ctx.liveCpuBefore === null ? null : (cpuAfter - ctx.liveCpuBefore) / Math.max(1, delivered(counts));
  const fraud = await metricTotals(ctx, 'otpgate_fraud_guard_total', 'rule');
  const failures = await metricTotals(ctx, 'otpgate_provider_failures_total', 'reason');

  const drainText = drained ? `all within ${(drainMs / 1000).toFixed(2)} s of the last response` : `only ${delivered(counts)} after ${(drainMs / 1000).toFixed(0)} s`;
  const fraudText = sum(fraud) ? `fraud guard (monitor) found ${sum(fraud)} sends suspect ${JSON.stringify(fraud)}` : 'fraud guard (monitor) found no send suspect';
  (ctx.details.live ??= []).push(
    `delivered to the fake WhatsApp: ${delivered(counts)} of ${accepted} sends accepted (${result.expected} answered 201 before autocannon stopped); ${delivered(atEnd)} by the end of the load, ${drainText}`,
    ...(cpuPerSend === null ? [] : [`otpgate CPU from the start of the load to the last delivery: ${cpuPerSend.toFixed(3)} ms per delivered send`]),
    `${counts.distinct - before.distinct} distinct recipients, ${duplicates} duplicates, ${rejected} refused; the fake used ${cpuMs} ms CPU during the load (${Math.round(cpuMs / 10 / Math.max(loadSeconds, 0.001))}% of a core)`,
    `${fraudText}; provider failures ${JSON.stringify(failures)}`,
  );
  ctx.figures.live = {
    ...ctx.figures.live,
    ...(cpuPerSend === null ? {} : { live_otpgate_cpu_ms_per_delivered_send: Number(cpuPerSend.toFixed(3)) }),
    live_accepted: accepted,
    live_delivered: delivered(counts),
    live_delivered_during_load: delivered(atEnd),
    live_drain_ms: Math.round(drainMs),
    live_fake_cpu_ms_during_load: cpuMs,
    live_fraud_suspected: sum(fraud),
  };
  if (!drained) {
    ctx.problems.push(`live: the fake WhatsApp received ${delivered(counts)} of ${accepted} accepted messages within ${DRAIN_DEADLINE_MS / 1000} s of the last response`);
  }
  if (duplicates > 0) ctx.notes.push(`live: the fake WhatsApp got ${duplicates} messages for a recipient it had already received one for (retries?)`);
  if (rejected > 0) ctx.problems.push(`live: the fake WhatsApp refused ${rejected} requests (token, phone number id or message shape)`);
  if (Object.keys(failures).length) ctx.notes.push(`live: provider call failures by reason ${JSON.stringify(failures)}`);
}

const countBy = (values) => values.reduce((out, v) => ({ ...out, [v]: (out[v] ?? 0) + 1 }), {});

/**
 * Creates `count` email inboxes (test key) and opens a long-poll on each, spread over the otpgate
 * processes, each on its own connection. Resolves once every long-poll has been sent and a second
 * has passed (time for the servers to register them). `answered()` lists the statuses (or 'error')
 * of those that ended; `release()` aborts the rest.
 */
async function holdLongPolls(ctx, count) {
  const ids = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, () =>
        requestJson('POST', `${ctx.servers.otpgate.url}/v1/sandbox/inboxes`, { headers: { 'x-api-key': ctx.apiKey }, body: { kind: 'email' }, expect: 201 }),
      ),
    );
    ids.push(...batch.map((inbox) => inbox.id));
  }
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const ended = [];
  let released = false;
  const requests = ids.map((id, i) => {
    const server = ctx.otpgates[i % ctx.otpgates.length];
    const req = httpRequest(`${server.url}/v1/sandbox/inboxes/${id}?wait=${LONG_POLL_WAIT_S}`, { agent, headers: { 'x-api-key': ctx.apiKey } }, (res) => {
      res.resume();
      res.on('end', () => ended.push(res.statusCode));
    });
    req.on('error', () => {
      if (!released) ended.push('error');
    });
    req.end();
    return req;
  });
  await sleep(1000);
  return {
    count: ids.length,
    answered: () => [...ended],
    release() {
      released = true;
      for (const req of requests) req.destroy();
      agent.destroy();
    },
  };
}

/**
 * The warm-up run.js gives the servers before the phases (not measured), so that every phase meets
 * warm processes: the bare server gets the baseline's route for `seconds`; otpgate gets the request
 * phase's sends for `seconds` (numbers of their own), then a check of each of their codes, then
 * `seconds` of gated actions with the sessions those checks issued. (Sends alone left the check's
 * and the gate's code to be compiled during the phases that measure them.) The warm-up's
 * identifiers are kept in ctx.warmedUp: the check phase leaves their codes, already used, out.
 */
export async function warmUp(ctx, seconds) {
  if (ctx.servers.bare) await runLoads([{ ...phases[0].load(ctx), duration: seconds }], 200);
  if (!ctx.otpgates.length) return;
  let next = WARMUP_NUMBERS_FROM;
  const requests = [
    {
      setupRequest(req) {
        req.body = JSON.stringify({ identifier: brazilianMobile(next++) });
        return req;
      },
    },
  ];
  const sent = await runLoads(perProcess(ctx, '/v1/verifications', (base) => ({ ...base, duration: seconds, requests })), 201);
  const pairs = await collectSandboxCodes(ctx.servers.otpgate, ctx.apiKey, sent.expected);
  ctx.warmedUp = new Set(pairs.map((pair) => pair.identifier));
  const warmSessions = [];
  const checked = pairs.length ? await runLoads(checkLoads(ctx, pairs, warmSessions), 200) : null;
  const gated = warmSessions.length ? await runLoads(authorizeLoads(ctx, warmSessions, seconds), 200) : null;
  for (const [what, result] of [['sends', sent], ['checks', checked], ['gated actions', gated]]) {
    if (!result || result.failedRatio > MAX_WARMUP_FAILED_RATIO) ctx.problems.push(`warm-up: its ${what} ${result ? `failed (${(100 * result.failedRatio).toFixed(1)}% without the expected status)` : 'could not run'}`);
  }
}

/** Above this share of unexpected answers the warm-up makes the run invalid (as a phase's would). */
const MAX_WARMUP_FAILED_RATIO = 0.01;
