// Load benchmark: otpgate's hot endpoints against a bare Fastify baseline measured in the same run
// (the figures only mean something relative to it on a shared, noisy machine).
//
//   npm run bench                      (builds first)
//   node bench/run.js [--duration 10] [--connections 50] [--store sqlite|postgres] [--processes 1|2]
//                     [--whatsapp-latency 0] [--webhook '*'|<events>|none] [--group-commit <n>] [--http-thread 0|1] [--json]
//
// --store sqlite (default): one otpgate on an embedded SQLite file. --store postgres: otpgate on a
// throwaway Postgres database (dropped at the end) with Redis; --processes 2 then runs two otpgate
// processes on it, the load split between them. See bench/README.md.
//
// The live phase sends through a fake WhatsApp Cloud API (bench/lib/fake-whatsapp.js, its own
// process) and must keep >= 0.8x the request phase's rps.
//
// Both bench integrations (test and live mode) have a webhook to a local receiver
// (bench/lib/fake-receiver.js, its own process) for every event type unless --webhook says
// otherwise: the phases pay for writing the events in their transactions, signing and posting them.
//
// Exit code: 0 all good; 1 a phase is below its floor; 2 the run is not a valid result (more than
// 1% of a phase's requests without the expected status, messages not captured or not delivered, a
// server that would not start, ...). Progress goes to stderr, the report (or JSON line) to stdout.
import { randomBytes } from 'node:crypto';
import { parseOptions, USAGE } from './lib/args.js';
import { runLoads } from './lib/load.js';
import { configureWebhook, createBenchIntegration, LIVE_BENCH_POLICY } from './lib/otpgate-api.js';
import { phases, warmUp } from './lib/phases.js';
import { analyzeDatabase, createThrowawayDatabase, DEFAULT_ADMIN_DATABASE_URL, DEFAULT_REDIS_URL, redact } from './lib/postgres.js';
import { cleanup, commandsCpuMs, describeExit, installExitHandlers, serversCpuMs, stealMeter } from './lib/processes.js';
import { judge, toJson, toText } from './lib/report.js';
import { startOtpgateWorker, startBare, startFakeReceiver, startFakeWhatsApp, startOtpgate } from './lib/servers.js';

const MAX_FAILED_RATIO = 0.01;
/** Points of CPU steal between a phase and its baseline slice above which the report says its ratio is unsound. */
const STEAL_GAP_NOTED = 10;

/**
 * The environment every otpgate process of the run shares: for SQLite only the options' settings
 * (each process has its own data directory); for Postgres also a throwaway database, Redis, and one
 * server secret and admin token (a code sealed or a session signed by one process must be read by the other).
 */
async function otpgateEnv(ctx) {
  const settings = ctx.options.httpThread === null ? {} : { OTPGATE_HTTP_THREAD: ctx.options.httpThread ? '1' : '0' };
  if (ctx.options.store !== 'postgres') return settings;
  const adminUrl = process.env.OTPGATE_BENCH_DATABASE_URL || DEFAULT_ADMIN_DATABASE_URL;
  const redisUrl = process.env.OTPGATE_BENCH_REDIS_URL || DEFAULT_REDIS_URL;
  const database = await createThrowawayDatabase(adminUrl, ctx.log);
  ctx.databaseUrl = database.url;
  ctx.log(`otpgate will use Redis at ${redact(redisUrl)}`);
  return {
    OTPGATE_DATABASE_URL: database.url,
    OTPGATE_REDIS_URL: redisUrl,
    OTPGATE_SECRET: randomBytes(32).toString('base64url'),
    OTPGATE_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    ...settings,
    ...(ctx.options.groupCommit === null ? {} : { OTPGATE_POSTGRES_GROUP_COMMIT_MAX: String(ctx.options.groupCommit) }),
  };
}

/**
 * Starts what the phases need: the bare server and/or the otpgate process(es) with the bench
 * integration; for a live phase first the fake WhatsApp Cloud API, which every otpgate process is
 * pointed at (the same processes serve the test-mode phases: test keys still go to the sandbox),
 * and a second integration whose live key the live phase uses.
 */
async function startServers(ctx) {
  const needed = new Set(phases.map((phase) => phase.server));
  const providers = new Set(phases.map((phase) => phase.provider).filter(Boolean));
  if (needed.has('bare')) {
    ctx.log('starting bare Fastify server');
    ctx.servers.bare = await startBare();
  }
  if (needed.has('otpgate')) {
    const env = await otpgateEnv(ctx);
    if (providers.has('whatsapp')) {
      ctx.log(`starting the fake WhatsApp Cloud API${ctx.options.whatsappLatency ? ` (answers ${ctx.options.whatsappLatency} ms late)` : ''}`);
      ctx.servers.whatsapp = await startFakeWhatsApp({ latencyMs: ctx.options.whatsappLatency });
      Object.assign(env, ctx.servers.whatsapp.env);
    }
    if (ctx.options.webhookEvents) {
      ctx.log('starting the webhook receiver');
      ctx.servers.receiver = await startFakeReceiver();
      Object.assign(env, ctx.servers.receiver.env);
    }
    const count = ctx.options.processes;
    ctx.otpgates = [];
    // One after the other: the first migrates the new database, the next ones find it ready.
    const separateWorker = ctx.options.worker === 'process';
    for (let i = 1; i <= count; i++) {
      const name = count === 1 ? 'otpgate' : `otpgate-${i}`;
      ctx.log(`starting ${name} (store: ${ctx.options.store}${separateWorker ? ', --no-worker' : ''}${providers.size ? `, live provider: ${[...providers].join(', ')} (fake)` : ''})`);
      const server = await startOtpgate(env, { name, serveArgs: separateWorker ? ['--no-worker'] : [] });
      ctx.otpgates.push(server);
      ctx.otpgateCpuProcesses.push(server);
      ctx.servers[i === 1 ? 'otpgate' : name] = server;
    }
    if (separateWorker) {
      ctx.log('starting otpgate worker (outbox and webhooks, no HTTP)');
      ctx.otpgateWorker = await startOtpgateWorker(env);
      ctx.otpgateCpuProcesses.push(ctx.otpgateWorker);
    }
    ctx.apiKey = await createBenchIntegration(ctx.servers.otpgate);
    if (providers.size) ctx.liveApiKey = await createBenchIntegration(ctx.servers.otpgate, { name: 'bench-live', policy: LIVE_BENCH_POLICY, mode: 'live' });
    if (ctx.servers.receiver) {
      const events = ctx.options.webhookEvents;
      for (const key of [ctx.apiKey, ctx.liveApiKey].filter(Boolean)) await configureWebhook(ctx.servers.otpgate, key, ctx.servers.receiver.url, events);
      ctx.log(`webhook configured (test${ctx.liveApiKey ? ' and live' : ''} mode): ${events.join(', ')} to ${ctx.servers.receiver.url}`);
    }
  }
}

/** How long, at most, the benchmark waits for the webhook receiver's count to stop growing. */
const WEBHOOK_DRAIN_DEADLINE_MS = 60_000;

/**
 * Waits until the receiver has had no new webhook for `quietMs` (or the deadline): the webhooks a
 * phase raised are sent before the next phase starts, so that phase is not measured while otpgate
 * still works off the previous one's. Returns the receiver's counts and how long it waited.
 */
async function drainWebhooks(ctx, quietMs) {
  const receiver = ctx.servers.receiver;
  const started = Date.now();
  let counts = await receiver.counts();
  let stableSince = Date.now();
  while (Date.now() - started < WEBHOOK_DRAIN_DEADLINE_MS && Date.now() - stableSince < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const next = await receiver.counts();
    if (next.received !== counts.received) stableSince = Date.now();
    counts = next;
  }
  return { counts, waitedMs: Date.now() - started - quietMs };
}

/** After a phase: its webhooks sent, and how long after its last response that took, in its report. */
async function afterPhaseWebhooks(ctx, phase, before) {
  if (!ctx.servers.receiver || phase.server !== 'otpgate') return;
  const { counts, waitedMs } = await drainWebhooks(ctx, 1000);
  const got = counts.received - before.received;
  (ctx.details[phase.name] ??= []).push(`webhooks: ${got} received for this phase, the last ${(Math.max(0, waitedMs) / 1000).toFixed(1)} s after its load ended`);
  ctx.figures[phase.name] = { ...ctx.figures[phase.name], [`${phase.name}_webhooks`]: got };
}

/** At the end: what the receiver got in all (refused or duplicated webhooks are a problem / a note). */
async function reportWebhooks(ctx) {
  const receiver = ctx.servers.receiver;
  if (!receiver) return;
  const { counts } = await drainWebhooks(ctx, 2000);
  ctx.figures.webhooks = { webhooks_received: counts.received, webhooks_duplicates: counts.duplicates, webhooks_refused: counts.refused, webhooks_by_type: counts.by_type };
  ctx.notes.push(`webhooks (${ctx.options.webhookEvents.join(', ')}): the receiver got ${counts.received} (${counts.distinct} distinct webhook-ids) ${JSON.stringify(counts.by_type)}; it used ${counts.cpu_ms} ms CPU`);
  if (counts.duplicates > 0) ctx.notes.push(`webhooks: ${counts.duplicates} delivered more than once (at least once: retries after a timeout?)`);
  if (counts.refused > 0) ctx.problems.push(`webhooks: the receiver refused ${counts.refused} requests (missing Standard Webhooks headers or an unreadable body)`);
}

/**
 * What the otpgate processes spent per response during a phase's load (on this shared machine req/s
 * also depends on how much CPU otpgate got; CPU per response does not): a report line and
 * <phase>_otpgate_cpu_ms_per_response.
 */
function noteServerCpu(ctx, phase, result, cpuMs, mainMs) {
  if (Number.isNaN(cpuMs) || !result.responses) return;
  const seconds = (result.lastResponseAt - result.startedAt) / 1000;
  const perResponse = cpuMs / result.responses;
  const mainPerResponse = Number.isNaN(mainMs) ? null : mainMs / result.responses;
  (ctx.details[phase.name] ??= []).push(
    `otpgate CPU during the load: ${perResponse.toFixed(3)} ms per response, ${(cpuMs / 1000 / Math.max(seconds, 0.001)).toFixed(2)} cores` +
      (mainPerResponse === null ? '' : `; main threads ${mainPerResponse.toFixed(3)} ms per response`),
  );
  ctx.figures[phase.name] = {
    ...ctx.figures[phase.name],
    [`${phase.name}_otpgate_cpu_ms_per_response`]: Number(perResponse.toFixed(3)),
    ...(mainPerResponse === null ? {} : { [`${phase.name}_otpgate_main_thread_cpu_ms_per_response`]: Number(mainPerResponse.toFixed(3)) }),
  };
}

/** The servers of the Postgres store, by command name: what they spent is reported per response. */
const STORE_COMMANDS = [
  ['postgres', ['postgres']],
  ['redis', ['redis-server']],
];

/**
 * What Postgres (every backend) and Redis spent per response during a phase's load: the figures the
 * scale-out model of bench/README.md starts from; <phase>_postgres_cpu_ms_per_response and
 * <phase>_redis_cpu_ms_per_response. Includes whatever else those servers did meanwhile.
 */
function noteStoreCpu(ctx, phase, result, cpuMs) {
  if (!result.responses || cpuMs.some((ms) => ms === null || Number.isNaN(ms))) return;
  const perResponse = cpuMs.map((ms) => ms / result.responses);
  (ctx.details[phase.name] ??= []).push(`store CPU during the load: Postgres ${perResponse[0].toFixed(3)} ms, Redis ${perResponse[1].toFixed(3)} ms per response`);
  const figures = Object.fromEntries(STORE_COMMANDS.map(([name], i) => [`${phase.name}_${name}_cpu_ms_per_response`, Number(perResponse[i].toFixed(3))]));
  ctx.figures[phase.name] = { ...ctx.figures[phase.name], ...figures };
}

function describeFailures(phase, result) {
  const share = (result.failedRatio * 100).toFixed(2);
  const samples = result.samples.map(({ status, body, label }) => `\n    ${label ? `${label}: ` : ''}${status}: ${body}`).join('');
  return `${phase.name}: ${share}% of requests failed (expected ${phase.expect}; statuses ${JSON.stringify(result.byStatus)}, errors ${result.errors}, timeouts ${result.timeouts})${samples}`;
}

async function main() {
  const options = parseOptions();
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  installExitHandlers();
  const ctx = {
    options,
    log: options.json ? () => {} : (line) => process.stderr.write(`${line}\n`),
    servers: {},
    otpgates: [],
    otpgateCpuProcesses: [], // the serve processes, and `otpgate worker` when it runs apart
    notes: [],
    problems: [],
    details: {}, // phase name -> lines for the report
    figures: {}, // phase name -> extra JSON keys
  };
  await startServers(ctx);
  if (options.warmup > 0) {
    // One after the other: each server warms up with the machine to itself, as it is measured.
    ctx.log(`warm-up: ${options.warmup} s of load for each server (otpgate: sends, a check of their codes, gated actions), not measured`);
    await warmUp(ctx, options.warmup);
    if (ctx.servers.receiver) await drainWebhooks(ctx, 1000);
  }
  if (options.analyze && ctx.databaseUrl) {
    ctx.log('ANALYZE of the database (as autovacuum leaves one that has run for a minute; --analyze 0: not)');
    await analyzeDatabase(ctx.databaseUrl);
  }

  const rows = phases.map((phase) => ({ phase, result: null })); // null: not run
  for (const row of rows) {
    const { phase } = row;
    const skipped = phase.skip?.(ctx);
    if (skipped) {
      ctx.problems.push(`${phase.name}: not run: ${skipped}`);
      continue;
    }
    if (options.baseline === 'each' && phase.server === 'otpgate' && ctx.servers.bare) {
      // The baseline again, just before this phase: on a shared machine the one at the start may
      // have run on another share of the CPU than this phase gets.
      ctx.log(`${phase.name}: the baseline's load first (${phases[0].description}), the ratio's denominator`);
      const steal = stealMeter();
      const slice = await runLoads([phases[0].load(ctx)], phases[0].expect);
      row.baseline = { rps: slice.rps, stealPct: steal(), failedRatio: slice.failedRatio };
      if (slice.failedRatio > MAX_FAILED_RATIO) ctx.problems.push(`${phase.name}: its baseline slice: ${(100 * slice.failedRatio).toFixed(1)}% of the requests failed`);
    }
    ctx.log(`${phase.name}: ${phase.description}`);
    await phase.before?.(ctx);
    const webhooksBefore = ctx.servers.receiver ? await ctx.servers.receiver.counts() : null;
    const cpuBefore = phase.server === 'otpgate' ? serversCpuMs(ctx.otpgateCpuProcesses) : null;
    const mainBefore = phase.server === 'otpgate' ? serversCpuMs(ctx.otpgateCpuProcesses, { mainThread: true }) : null;
    const storesBefore = phase.server === 'otpgate' && options.store === 'postgres' ? STORE_COMMANDS.map(([, names]) => commandsCpuMs(names)) : null;
    const steal = stealMeter();
    const result = await runLoads([phase.load(ctx)].flat(), phase.expect);
    row.stealPct = steal();
    const stealGap = row.baseline && row.stealPct !== null && row.baseline.stealPct !== null ? Math.abs(row.stealPct - row.baseline.stealPct) : 0;
    if (stealGap > STEAL_GAP_NOTED) {
      ctx.notes.push(`${phase.name}: the hypervisor's steal was ${row.stealPct.toFixed(0)}% during the phase and ${row.baseline.stealPct.toFixed(0)}% during its baseline slice: its ratio compares two different machines`);
    }
    if (cpuBefore !== null) noteServerCpu(ctx, phase, result, serversCpuMs(ctx.otpgateCpuProcesses) - cpuBefore, mainBefore === null ? NaN : serversCpuMs(ctx.otpgateCpuProcesses, { mainThread: true }) - mainBefore);
    if (storesBefore) noteStoreCpu(ctx, phase, result, STORE_COMMANDS.map(([, names], i) => commandsCpuMs(names) - storesBefore[i]));
    if (result.failedRatio > MAX_FAILED_RATIO) ctx.problems.push(describeFailures(phase, result));
    else if (result.unexpected + result.errors > 0) ctx.notes.push(describeFailures(phase, result));
    row.result = result;
    const crashed = Object.values(ctx.servers).find((server) => server.child.exitStatus);
    if (crashed) {
      ctx.problems.push(`${phase.name}: ${describeExit(crashed.child)}`);
      break;
    }
    await phase.after?.(ctx, result);
    if (webhooksBefore) await afterPhaseWebhooks(ctx, phase, webhooksBefore);
  }

  await reportWebhooks(ctx);
  const judged = judge(rows);
  process.stdout.write(options.json ? `${toJson(judged, options, ctx.figures)}\n` : toText(judged, ctx));
  if (options.json) {
    // The JSON line stays alone on stdout; what the table would have said goes to stderr.
    for (const note of ctx.notes) console.warn(`bench: ${note}`);
    for (const problem of ctx.problems) console.error(`bench: ${problem}`);
  }
  if (ctx.problems.length) return 2;
  return judged.some(({ verdict }) => verdict === 'FAIL') ? 1 : 0;
}

let exitCode = 2;
try {
  exitCode = await main();
} catch (error) {
  console.error(`bench: ${error.message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
