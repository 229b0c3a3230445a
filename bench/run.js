// Load benchmark: otpgate's hot endpoints against a bare Fastify baseline measured in the same run
// (the figures only mean something relative to it on a shared, noisy machine).
//
//   npm run bench                      (builds first)
//   node bench/run.js [--duration 10] [--connections 50] [--json]
//
// Exit code: 0 all good; 1 a phase is below its floor; 2 the run is not a valid result (more than
// 1% of a phase's requests without the expected status, messages not captured, a server that
// would not start, ...). Progress goes to stderr, the report (or JSON line) to stdout.
import { parseOptions, USAGE } from './lib/args.js';
import { runLoad } from './lib/load.js';
import { createBenchIntegration } from './lib/otpgate-api.js';
import { phases } from './lib/phases.js';
import { cleanup, describeExit, installExitHandlers } from './lib/processes.js';
import { judge, toJson, toText } from './lib/report.js';
import { startBare, startOtpgate } from './lib/servers.js';

const MAX_FAILED_RATIO = 0.01;

/** Starts what the phases need: the bare server and/or otpgate with its bench integration. */
async function startServers(ctx, otpgateEnv = {}) {
  const needed = new Set(phases.map((phase) => phase.server));
  if (needed.has('bare')) {
    ctx.log('starting bare Fastify server');
    ctx.servers.bare = await startBare();
  }
  if (needed.has('otpgate')) {
    ctx.log('starting otpgate');
    ctx.servers.otpgate = await startOtpgate(otpgateEnv);
    ctx.apiKey = await createBenchIntegration(ctx.servers.otpgate);
  }
}

function describeFailures(phase, result) {
  const share = (result.failedRatio * 100).toFixed(2);
  const samples = result.samples.map(({ status, body }) => `\n    ${status}: ${body}`).join('');
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
    notes: [],
    problems: [],
  };
  await startServers(ctx);

  const rows = phases.map((phase) => ({ phase, result: null })); // null: not run
  for (const row of rows) {
    const { phase } = row;
    const skipped = phase.skip?.(ctx);
    if (skipped) {
      ctx.problems.push(`${phase.name}: not run: ${skipped}`);
      continue;
    }
    ctx.log(`${phase.name}: ${phase.description}`);
    const result = await runLoad(phase.load(ctx), phase.expect);
    if (result.failedRatio > MAX_FAILED_RATIO) ctx.problems.push(describeFailures(phase, result));
    else if (result.unexpected + result.errors > 0) ctx.notes.push(describeFailures(phase, result));
    row.result = result;
    const crashed = Object.values(ctx.servers).find((server) => server.child.exitStatus);
    if (crashed) {
      ctx.problems.push(`${phase.name}: ${describeExit(crashed.child)}`);
      break;
    }
    await phase.after?.(ctx, result);
  }

  const judged = judge(rows);
  process.stdout.write(options.json ? `${toJson(judged)}\n` : toText(judged, ctx));
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
