import { parseArgs } from 'node:util';

export const USAGE = `Usage: node bench/run.js [--duration <s>] [--connections <n>] [--json]

  --duration <s>      seconds per duration-bounded phase (default 10)
  --connections <n>   concurrent connections (default 50)
  --json              print only one JSON line with the figures
`;

function positiveInt(name, raw) {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** Parses the command line into { duration, connections, json, help }; throws on bad input. */
export function parseOptions(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  return {
    duration: positiveInt('duration', values.duration),
    connections: positiveInt('connections', values.connections),
    json: values.json,
    help: values.help,
  };
}
