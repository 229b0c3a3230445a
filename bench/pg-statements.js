// Developer tool: what a round trip and a transaction cost Postgres and the client, for the choices
// of src/store/pg-pipeline.ts (bench/README.md, "Scaling out on Postgres").
//   node bench/pg-statements.js [--requests 3000]
// On a throwaway database (OTPGATE_BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres),
// 50 concurrent "requests" of 5 INSERTs of an event-sized row each, written four ways:
//   1. one statement per round trip with parameters (node-postgres's extended protocol, as Kysely sends them)
//   2. the same as named prepared statements
//   3. one transaction per request in one multi-statement query (a pipelined transaction)
//   4. the requests of one event-loop turn in one transaction, each in a SAVEPOINT (group commit)
// and prints Postgres's CPU (every backend) and this process's CPU per request.
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createThrowawayDatabase, DEFAULT_ADMIN_DATABASE_URL } from './lib/postgres.js';
import { cleanup, commandsCpuMs } from './lib/processes.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '3000' } } });
const REQUESTS = Number(values.requests);
const CONNECTIONS = 50;
const print = (text) => process.stdout.write(`${text}\n`);

try {
  const database = await createThrowawayDatabase(process.env.OTPGATE_BENCH_DATABASE_URL || DEFAULT_ADMIN_DATABASE_URL);
  const pool = new pg.Pool({ connectionString: database.url, max: 10 });
  pool.on('error', () => {});
  await pool.query('create table ev (id text primary key, integration_id text, mode text, type text, data_json text, created_at bigint)');
  await pool.query('create index on ev (integration_id, mode, created_at)');
  const data = JSON.stringify({ verification: 'x'.repeat(500) });
  const insert = 'insert into ev (id, integration_id, mode, type, data_json, created_at) values ($1, $2, $3, $4, $5, $6)';
  let next = 0;
  const row = () => [`evt_${next++}`, 'int_bench', 'test', 'verification.created', data, Date.now()];
  const literal = (value) => pg.escapeLiteral(String(value));
  const inlined = () => `insert into ev (id, integration_id, mode, type, data_json, created_at) values (${row().map(literal).join(', ')})`;

  async function measure(name, oneRequest) {
    const pgBefore = commandsCpuMs(['postgres']);
    const ownBefore = process.cpuUsage();
    const started = performance.now();
    let issued = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (issued < REQUESTS) {
          issued++;
          await oneRequest();
        }
      }),
    );
    const wall = performance.now() - started;
    const own = process.cpuUsage(ownBefore);
    const pgMs = commandsCpuMs(['postgres']) - pgBefore;
    const perRequest = (ms) => `${((ms * 1000) / REQUESTS).toFixed(0).padStart(5)} µs`;
    print(`${name.padEnd(64)} Postgres ${perRequest(pgMs)}  this process ${perRequest((own.user + own.system) / 1000)}  wall ${perRequest(wall)} per request`);
  }

  await measure('1. a round trip per statement, parameters', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let i = 0; i < 5; i++) await client.query(insert, row());
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
  await measure('2. a round trip per statement, named prepared statements', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (let i = 0; i < 5; i++) await client.query({ name: 'bench_insert', text: insert, values: row() });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
  await measure('3. one multi-statement query per transaction (pipelined)', () => pool.query(['BEGIN', ...Array.from({ length: 5 }, inlined), 'COMMIT'].join(';\n')));
  let waiting = [];
  const grouped = () =>
    new Promise((resolve, reject) => {
      waiting.push({ statements: Array.from({ length: 5 }, inlined), resolve, reject });
      if (waiting.length > 1) return;
      setImmediate(async () => {
        const group = waiting;
        waiting = [];
        const parts = ['BEGIN'];
        group.forEach((request, i) => parts.push(`SAVEPOINT r${i}`, ...request.statements, `RELEASE r${i}`));
        parts.push('COMMIT');
        try {
          await pool.query(parts.join(';\n'));
          for (const request of group) request.resolve();
        } catch (error) {
          for (const request of group) request.reject(error);
        }
      });
    });
  await measure('4. the requests of a turn in one transaction, savepoints (group commit)', grouped);
  await pool.end();
} finally {
  await cleanup();
}
