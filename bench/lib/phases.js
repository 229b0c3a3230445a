// The measured phases, run in this order. A phase is:
//   name, description  for the report and the JSON keys (<name>_rps, <name>_p99_ms, <name>_ratio)
//   server             'bare' or 'otpgate': which server run.js must start for it
//   expect             the status every response should have
//   floor              minimum rps as a fraction of the baseline's (none for the baseline itself)
//   skip(ctx)          optional: a reason not to run (counts as a failed run)
//   load(ctx)          autocannon options, or a list of them to run at once (one per otpgate
//                      process; their figures are merged by runLoads); `label` names each target
//   after(ctx, result) optional: runs once the load is done (e.g. to prepare the next phase)
// ctx: { options, log, servers: { bare, otpgate, ... }, otpgates: [process 1, ...], apiKey, notes[],
//        problems[], ...state between phases }. servers.otpgate is process 1 (it made the integration).
// With several otpgate processes the connections are split between them, counters are shared so
// each number (request) and each code (check) goes to exactly one process, and any session (from
// either process) is used on both (authorize).
import { collectSandboxCodes } from './otpgate-api.js';

/** Below this many pairs the check phase is too short to say much: the report says so. */
const FEW_CHECKS = 2000;
const JSON_HEADERS = { 'content-type': 'application/json' };

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
function perProcess(ctx, path, build) {
  const shares = splitEvenly(ctx.options.connections, ctx.otpgates.length);
  return ctx.otpgates.map((server, index) =>
    build(
      {
        label: server.name,
        url: `${server.url}${path}`,
        method: 'POST',
        headers: { ...JSON_HEADERS, 'x-api-key': ctx.apiKey },
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
      ctx.pairs = await collectSandboxCodes(ctx.servers.otpgate, ctx.apiKey, result.expected);
      if (ctx.pairs.length < result.expected) {
        ctx.problems.push(`request: only ${ctx.pairs.length} of ${result.expected} verifications had a captured message after 30 s without progress`);
      }
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
            // Keep a few sessions for the authorize phase.
            if (status === 200 && sessions.length < 200) sessions.push(JSON.parse(body).otp_session);
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
    },
  },
  {
    name: 'authorize',
    description: 'POST /v1/authorize, a gated action with a valid X-OTP-Session',
    server: 'otpgate',
    expect: 200,
    floor: 0.3,
    skip: () => (sessions.length ? null : 'no OTP sessions from the check phase'),
    load(ctx) {
      let next = 0;
      const requests = [
        {
          setupRequest(req) {
            req.headers = { ...req.headers, 'x-otp-session': sessions[next++ % sessions.length] };
            return req;
          },
        },
      ];
      return perProcess(ctx, '/v1/authorize', (base) => ({
        ...base,
        duration: ctx.options.duration,
        body: JSON.stringify({ action: 'redemption' }),
        requests,
      }));
    },
  },
];

/** OTP sessions returned by the check phase, used by the authorize phase. */
const sessions = [];
