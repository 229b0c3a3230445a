import pg from 'pg';
import { readFileSync } from 'node:fs';
import { inlineParameters } from '../dist/store/pg-pipeline.js';
const url = 'postgres://postgres@127.0.0.1:5432/postgres';
const setup = new pg.Client({ connectionString: url }); await setup.connect();
await setup.query('drop table if exists _v, _e; create table _v (id text primary key, integration_id text, mode text, canonical text, status text, data text, created_at bigint); create index on _v (integration_id, mode, canonical) where status = \'pending\'; create index on _v (integration_id, mode, canonical, created_at, id); create table _e (id text primary key, integration_id text, mode text, type text, data_json text, created_at bigint); create index on _e (integration_id, mode, created_at)');
const cpuOf = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' '); return (Number(x[11]) + Number(x[12])) * 10; };
const data = JSON.stringify({ a: 'x'.repeat(400) });
const S = {
  lock: 'select pg_advisory_xact_lock(hashtextextended($1, 0))',
  pending: `select id from _v where integration_id = $1 and mode = $2 and canonical = $3 and status = 'pending' limit 1`,
  insV: 'insert into _v (id, integration_id, mode, canonical, status, data, created_at) values ($1, $2, $3, $4, $5, $6, $7)',
  insE: 'insert into _e (id, integration_id, mode, type, data_json, created_at) values ($1, $2, $3, $4, $5, $6)',
};
let n = 0;
async function txSimple(c) {
  n++; const id = `v${n}`; const canon = `+55${n}`;
  await c.query(['BEGIN', inlineParameters(S.lock, [canon]), inlineParameters(S.pending, ['int', 'test', canon])].join(';\n'));
  await c.query([inlineParameters(S.insV, [id, 'int', 'test', canon, 'pending', data, Date.now()]), ...[1,2,3,4].map((k) => inlineParameters(S.insE, [`e${n}_${k}`, 'int', 'test', 'x', data, Date.now()])), 'COMMIT'].join(';\n'));
}
const names = new Map(); let nn = 0;
const q = (c, text, values) => { let name = names.get(text); if (!name) names.set(text, name = `s${++nn}`); return c.query({ name, text, values }); };
async function txPipe(c) {
  n++; const id = `v${n}`; const canon = `+55${n}`;
  const a = [c.query('BEGIN'), q(c, S.lock, [canon]), q(c, S.pending, ['int', 'test', canon])];
  await Promise.all(a);
  const b = [q(c, S.insV, [id, 'int', 'test', canon, 'pending', data, Date.now()]), ...[1,2,3,4].map((k) => q(c, S.insE, [`e${n}_${k}`, 'int', 'test', 'x', data, Date.now()])), c.query('COMMIT')];
  await Promise.all(b);
}
const N = 2000;
for (const mode of ['simple', 'pipe', 'simple', 'pipe', 'simple', 'pipe']) {
  const c = new pg.Client({ connectionString: url, pipeline: mode === 'pipe' }); await c.connect();
  const { rows: [{ pid }] } = await c.query('select pg_backend_pid() as pid');
  const t0 = cpuOf(pid); const own0 = process.cpuUsage(); const w0 = performance.now();
  for (let i = 0; i < N; i++) await (mode === 'pipe' ? txPipe(c) : txSimple(c));
  const own = process.cpuUsage(own0);
  console.log(mode.padEnd(6), 'pg cpu µs/tx', ((cpuOf(pid) - t0) * 1000 / N).toFixed(0), ' node cpu µs/tx', ((own.user + own.system) / N).toFixed(0), ' wall µs/tx', ((performance.now() - w0) * 1000 / N).toFixed(0));
  await c.end();
}
await setup.query('drop table _v, _e'); await setup.end();
