import { parseArgs } from 'node:util';

export const USAGE = `Usage: node bench/run.js [--duration <s>] [--connections <n>] [--store sqlite|postgres] [--processes <n>]
                         [--whatsapp-latency <ms>] [--json]

  --duration <s>      seconds per duration-bounded phase (default 10)
  --connections <n>   concurrent connections (default 50), split between the otpgate processes
  --store <kind>      sqlite (default): embedded, one process, a fresh data directory;
                      postgres: a throwaway database (created on OTPGATE_BENCH_DATABASE_URL, default
                      postgres://postgres@127.0.0.1:5432/postgres, dropped at the end) plus Redis
                      (OTPGATE_BENCH_REDIS_URL, default redis://127.0.0.1:6379)
  --processes <n>     otpgate serve processes sharing the store (default 1; more needs --store postgres)
  --whatsapp-latency <ms>
                      the fake WhatsApp Cloud API of the live phase answers each send this late
                      (default 0: only the local round trip; Meta's real API takes a few hundred ms)
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

/** Parses the command line into { duration, connections, store, processes, whatsappLatency, json, help }; throws on bad input. */
export function parseOptions(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      store: { type: 'string', default: 'sqlite' },
      processes: { type: 'string', default: '1' },
      'whatsapp-latency': { type: 'string', default: '0' },
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
  if (connections < processes) throw new Error(`--connections (${connections}) must be at least --processes (${processes}): each process gets its share`);
  return {
    duration: positiveInt('duration', values.duration),
    connections,
    store: values.store,
    processes,
    whatsappLatency: nonNegativeInt('whatsapp-latency', values['whatsapp-latency']),
    json: values.json,
    help: values.help,
  };
}
