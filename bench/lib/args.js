import { parseArgs } from 'node:util';

export const USAGE = `Usage: node bench/run.js [--duration <s>] [--connections <n>] [--store sqlite|postgres] [--processes <n>] [--worker inline|process]
                         [--whatsapp-latency <ms>] [--webhook <events>|none] [--warmup <s>] [--baseline each|once] [--analyze 0|1] [--group-commit <n>] [--http-thread 0|1] [--json]

  --duration <s>      seconds per duration-bounded phase (default 10)
  --connections <n>   concurrent connections (default 50), split between the otpgate processes
  --store <kind>      sqlite (default): embedded, one process, a fresh data directory;
                      postgres: a throwaway database (created on OTPGATE_BENCH_DATABASE_URL, default
                      postgres://postgres@127.0.0.1:5432/postgres, dropped at the end) plus Redis
                      (OTPGATE_BENCH_REDIS_URL, default redis://127.0.0.1:6379)
  --processes <n>     otpgate serve processes sharing the store (default 1; more needs --store postgres)
  --worker <where>    inline: each serve process runs the outbox worker and the webhook dispatcher;
                      process: the serve processes run with --no-worker and one \`otpgate worker\` process
                      delivers (its CPU counts as otpgate's). Default: process with --store postgres and
                      --processes 2 or more, else inline; process needs --store postgres
  --whatsapp-latency <ms>
                      the fake WhatsApp Cloud API of the live phase answers each send this late
                      (default 0: only the local round trip; Meta's real API takes a few hundred ms)
  --webhook <events>  the bench integrations' webhook (test and live mode) sends these event types,
                      comma-separated, to a local receiver (bench/lib/fake-receiver.js): default *
                      (every event, so the phases pay for writing, signing and posting them);
                      none: no webhook configured
  --warmup <s>        before the phases, each server gets this many seconds of load, not measured
                      (default 5; 0: none): the bare server its route; otpgate sends, a check of each
                      of their codes, then gated actions with the sessions issued. The phases then
                      measure warm processes (JIT done, statements prepared, caches filled)
  --baseline each|once
                      each (default): a slice of the baseline's load (--duration s) runs right before
                      every otpgate phase, and the phase's ratio is to that slice; once: every ratio is
                      to the one baseline phase at the start. This machine's CPU is shared (the
                      hypervisor's steal, shown per phase, moved between 3% and 42% within one run):
                      a baseline minutes away from a phase measured another machine
  --analyze 0|1       with --store postgres: ANALYZE the database after the warm-up (default 1), so the
                      phases run on the query plans of a database autovacuum has analyzed, as one that
                      has run for more than a minute has; 0: the plans made on the fresh, empty tables
  --group-commit <n>  with --store postgres: OTPGATE_POSTGRES_GROUP_COMMIT_MAX of every otpgate process
                      (transactions one Postgres group commit holds at most; 1: none, one each).
                      Default: otpgate's own default
  --http-thread 0|1   OTPGATE_HTTP_THREAD of every otpgate process: outgoing HTTP (webhooks, the fake
                      WhatsApp) on a worker thread (1) or on the main thread (0). Default: otpgate's own (1)
  --json              print only one JSON line with the figures
`;

const STORES = ['sqlite', 'postgres'];

function nonNegativeInt(name, raw) {
  if (!/^\d+$/.test(raw)) throw new Error(`--${name} must be a whole number, got "${raw}"`);
  return Number(raw);
}

function positiveInt(name, raw) {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** --webhook: null for none, else the event types (`*` or names like verification.approved). */
function webhookEvents(raw) {
  if (raw === 'none') return null;
  const events = raw.split(',').map((e) => e.trim()).filter(Boolean);
  if (events.length === 0 || !events.every((e) => e === '*' || /^[a-z_]+\.[a-z_]+$/.test(e))) {
    throw new Error(`--webhook must be none, * or comma-separated event types, got "${raw}"`);
  }
  return events;
}

/** Parses the command line into { duration, connections, store, processes, whatsappLatency, json, help }; throws on bad input. */
export function parseOptions(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      store: { type: 'string', default: 'sqlite' },
      processes: { type: 'string', default: '1' },
      worker: { type: 'string' },
      'whatsapp-latency': { type: 'string', default: '0' },
      webhook: { type: 'string', default: '*' },
      warmup: { type: 'string', default: '5' },
      baseline: { type: 'string', default: 'each' },
      analyze: { type: 'string', default: '1' },
      'group-commit': { type: 'string' },
      'http-thread': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (!STORES.includes(values.store)) throw new Error(`--store must be ${STORES.join(' or ')}, got "${values.store}"`);
  const connections = positiveInt('connections', values.connections);
  const processes = positiveInt('processes', values.processes);
  if (processes > 1 && values.store !== 'postgres') {
    throw new Error(`--processes ${processes} needs --store postgres: an embedded SQLite store belongs to one process`);
  }
  const worker = values.worker ?? (values.store === 'postgres' && processes > 1 ? 'process' : 'inline');
  if (worker !== 'inline' && worker !== 'process') throw new Error(`--worker must be inline or process, got "${worker}"`);
  if (worker === 'process' && values.store !== 'postgres') throw new Error('--worker process needs --store postgres: the embedded store belongs to one process');
  const groupCommit = values['group-commit'] === undefined ? null : positiveInt('group-commit', values['group-commit']);
  if (groupCommit !== null && values.store !== 'postgres') throw new Error('--group-commit needs --store postgres: the embedded store always groups its commits');
  const httpThread = values['http-thread'] === undefined ? null : values['http-thread'] === '1' ? true : values['http-thread'] === '0' ? false : undefined;
  if (httpThread === undefined) throw new Error(`--http-thread must be 1 or 0, got "${values['http-thread']}"`);
  if (values.baseline !== 'each' && values.baseline !== 'once') throw new Error(`--baseline must be each or once, got "${values.baseline}"`);
  if (values.analyze !== '0' && values.analyze !== '1') throw new Error(`--analyze must be 1 or 0, got "${values.analyze}"`);
  if (connections < processes) throw new Error(`--connections (${connections}) must be at least --processes (${processes}): each process gets its share`);
  return {
    duration: positiveInt('duration', values.duration),
    connections,
    store: values.store,
    processes,
    worker,
    whatsappLatency: nonNegativeInt('whatsapp-latency', values['whatsapp-latency']),
    webhookEvents: webhookEvents(values.webhook),
    warmup: nonNegativeInt('warmup', values.warmup),
    baseline: values.baseline,
    analyze: values.store === 'postgres' && values.analyze === '1',
    groupCommit,
    httpThread,
    json: values.json,
    help: values.help,
  };
}
