import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eachDialect, storeDialects } from '../../test/helpers/stores.js';
import { migrateToLatest, openStore, type Store } from './database.js';
import { allColumns, prepared, slot, slots } from './prepared.js';
import type { IntegrationsTable, Tables } from './tables.js';

/** Looped over every dialect available, as test/store/repositories.test.ts does. */
const dialects = storeDialects('prepared');

const INTEGRATION_COLUMNS = allColumns<IntegrationsTable>()(['id', 'name', 'trust_level', 'policy_json', 'created_at', 'updated_at', 'deleted_at']);

function integration(id: string, over: Partial<IntegrationsTable> = {}): IntegrationsTable {
  return { id, name: `name of ${id}`, trust_level: 'standard', policy_json: '{}', created_at: 1_000, updated_at: 1_000, deleted_at: null, ...over };
}

/** Fresh prepared queries (so fresh templates) with a count of how often each was built. */
function preparedQueries() {
  const builds = { insert: 0, find: 0, rename: 0 };
  const insert = prepared<IntegrationsTable>((db) => {
    builds.insert++;
    return db.insertInto('integrations').values(slots<IntegrationsTable>(INTEGRATION_COLUMNS));
  });
  const find = prepared<{ pattern: string; since: number }, Pick<IntegrationsTable, 'id' | 'name' | 'trust_level' | 'created_at'>>((db) => {
    builds.find++;
    return db
      .selectFrom('integrations')
      .select(['id', 'name', 'trust_level', 'created_at'])
      .where('id', 'like', slot<string>('pattern'))
      .where('trust_level', '=', 'standard') // a constant of the builder
      .where('created_at', '>=', slot<number>('since'))
      .where('updated_at', '>=', slot<number>('since')) // the same slot twice
      .where('deleted_at', 'is', null)
      .orderBy('id')
      .limit(2); // a constant parameter
  });
  const rename = prepared<{ id: string; name: string; now: number }>((db) => {
    builds.rename++;
    return db
      .updateTable('integrations')
      .set({ name: slot<string>('name'), trust_level: 'verified', updated_at: slot<number>('now') }) // trust_level: a constant
      .where('id', '=', slot<string>('id'));
  });
  return { builds, insert, find, rename };
}

eachDialect(dialects)('prepared queries on $name', ({ name, open }) => {
  let store: Store;
  let database: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    database = await open();
    store = openStore(database.url);
    await migrateToLatest(store.db);
  });
  afterAll(async () => {
    try {
      await store?.close();
    } finally {
      await database?.drop();
    }
  });

  const row = (id: string) => store.db.selectFrom('integrations').selectAll().where('id', '=', id).executeTakeFirst();

  it('inserts, selects and updates with slots, keeping the constants of the builder', async () => {
    const q = preparedQueries();
    await q.insert(store.db, integration('rt_1', { created_at: 2_000, updated_at: 2_000 }));
    await q.insert(store.db, integration('rt_2', { created_at: 3_000, updated_at: 3_000 }));
    await q.insert(store.db, integration('rt_3', { created_at: 4_000, updated_at: 4_000 }));
    await q.insert(store.db, integration('rt_4', { created_at: 5_000, updated_at: 5_000, trust_level: 'elevated' }));
    await q.insert(store.db, integration('rt_5', { created_at: 6_000, updated_at: 6_000, deleted_at: 6_500 }));
    await q.insert(store.db, integration('other', { created_at: 7_000, updated_at: 7_000 }));

    expect(await row('rt_1')).toEqual(integration('rt_1', { created_at: 2_000, updated_at: 2_000 })); // null slot values too
    // trust_level = 'standard', deleted_at IS NULL and LIMIT 2 come from the builder, not from the arguments.
    const found = await q.find(store.db, { pattern: 'rt_%', since: 2_000 });
    expect(found.rows).toEqual([
      { id: 'rt_1', name: 'name of rt_1', trust_level: 'standard', created_at: 2_000 },
      { id: 'rt_2', name: 'name of rt_2', trust_level: 'standard', created_at: 3_000 },
    ]);

    const renamed = await q.rename(store.db, { id: 'rt_2', name: 'Renamed', now: 9_000 });
    expect(renamed.numAffectedRows).toBe(1n);
    expect(await row('rt_2')).toEqual(integration('rt_2', { name: 'Renamed', trust_level: 'verified', created_at: 3_000, updated_at: 9_000 }));
    expect(await row('rt_1')).toEqual(integration('rt_1', { created_at: 2_000, updated_at: 2_000 })); // untouched
    expect((await q.find(store.db, { pattern: 'rt_%', since: 2_000 })).rows.map((r) => r.id)).toEqual(['rt_1', 'rt_3']);
  });

  it('builds each query once and runs it with new values every time, also inside a transaction', async () => {
    const q = preparedQueries();
    for (let i = 0; i < 12; i++) {
      await q.insert(store.db, integration(`many_${String(i).padStart(2, '0')}`, { created_at: 100 + i, updated_at: 100 + i }));
    }
    for (const [since, expected] of [
      [100, ['many_00', 'many_01']],
      [105, ['many_05', 'many_06']],
      [111, ['many_11']],
      [112, []],
    ] as const) {
      expect((await q.find(store.db, { pattern: 'many_%', since })).rows.map((r) => r.id)).toEqual(expected);
    }
    await store.db.transaction().execute(async (trx) => {
      await q.insert(trx, integration('many_tx', { created_at: 200, updated_at: 200 }));
      await q.rename(trx, { id: 'many_tx', name: 'in tx', now: 201 });
      expect((await q.find(trx, { pattern: 'many_t%', since: 200 })).rows).toEqual([]); // renamed: trust_level is now verified
    });
    expect(await row('many_tx')).toMatchObject({ name: 'in tx', trust_level: 'verified', updated_at: 201 });
    expect(q.builds).toEqual({ insert: 1, find: 1, rename: 1 });
  });

  it('refuses to run without a value for a slot, and writes nothing', async () => {
    const q = preparedQueries();
    const incomplete = { ...integration('no_name') } as Partial<IntegrationsTable>;
    delete incomplete.name;
    await expect(async () => q.insert(store.db, incomplete as IntegrationsTable)).rejects.toThrow(/no value for "name"/);
    expect(await row('no_name')).toBeUndefined();

    await expect(async () => q.rename(store.db, { id: 'rt_1', name: 'x', now: undefined as unknown as number })).rejects.toThrow(
      /no value for "now"/,
    );
    expect(await row('rt_1')).toMatchObject({ name: 'name of rt_1' });
    await expect(async () => q.find(store.db, { pattern: 'rt_%' } as { pattern: string; since: number })).rejects.toThrow(/no value for "since"/);

    // The template stays usable after a refusal.
    await q.insert(store.db, integration('no_name'));
    expect(await row('no_name')).toEqual(integration('no_name'));
  });

  it(`keeps one template per dialect (${name} and a compile-only Postgres)`, async () => {
    const q = preparedQueries();
    const compiled: string[] = [];
    const compileOnly = new Kysely<Tables>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) => new PostgresIntrospector(db),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
      log: (event) => void compiled.push(event.query.sql),
    });
    await q.insert(store.db, integration('per_dialect'));
    await q.insert(compileOnly, integration('never_stored'));
    await q.insert(compileOnly, integration('never_stored_2'));
    expect(compiled).toHaveLength(2);
    expect(compiled[0]).toContain('$7'); // Postgres placeholders, not the SQLite template's `?`
    expect(compiled[0]).not.toContain('?');
    await q.insert(store.db, integration('per_dialect_2'));
    expect(q.builds.insert).toBe(name === 'postgres' ? 1 : 2); // one build per dialect
    expect(await row('per_dialect_2')).toEqual(integration('per_dialect_2'));
    expect(await row('never_stored')).toBeUndefined();
    await compileOnly.destroy();
  });
});

describe('prepared queries on the embedded store keep the group-commit guarantees', () => {
  let dir: string;
  let store: Store;
  let observer: BetterSqlite3.Database;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otpgate-prepared-group-'));
    const file = join(dir, 'otpgate.db');
    store = openStore(`sqlite:${file}`);
    await migrateToLatest(store.db);
    observer = new BetterSqlite3(file); // a second connection: sees only what is committed
  });
  afterAll(async () => {
    try {
      observer?.close();
      await store?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const committed = (id: string): unknown => observer.prepare('SELECT id, name FROM integrations WHERE id = ?').get(id);

  it('answers a prepared write only once it is committed, while prepared reads see it at once', async () => {
    const q = preparedQueries();
    let committedOnResolve: unknown;
    const write = Promise.resolve()
      .then(() => q.insert(store.db, integration('pg_solo', { created_at: 50, updated_at: 50 })))
      .then(() => (committedOnResolve = committed('pg_solo')));
    await write;
    expect(committedOnResolve).toEqual({ id: 'pg_solo', name: 'name of pg_solo' });

    // A read right behind a write sees it before it is committed, and does not wait for the COMMIT.
    const update = q.rename(store.db, { id: 'pg_solo', name: 'Renamed', now: 60 });
    const read = await store.db.selectFrom('integrations').select('name').where('id', '=', 'pg_solo').executeTakeFirstOrThrow();
    expect(read.name).toBe('Renamed');
    expect(committed('pg_solo')).toEqual({ id: 'pg_solo', name: 'name of pg_solo' });
    expect(store.sqliteDriver?.group.open).toBe(true);
    await update;
    expect(committed('pg_solo')).toEqual({ id: 'pg_solo', name: 'Renamed' });
  });

  it('rolls back prepared writes with their transaction', async () => {
    const q = preparedQueries();
    await expect(
      store.db.transaction().execute(async (trx) => {
        await q.insert(trx, integration('pg_tx_1'));
        await q.rename(trx, { id: 'pg_solo', name: 'undone', now: 70 });
        throw new Error('fails after prepared writes');
      }),
    ).rejects.toThrow('fails after prepared writes');
    expect(committed('pg_tx_1')).toBeUndefined();
    expect(await store.db.selectFrom('integrations').select('name').where('id', '=', 'pg_solo').executeTakeFirstOrThrow()).toEqual({ name: 'Renamed' });
  });

  it('keeps a prepared write made while another transaction is open out of that transaction', async () => {
    const q = preparedQueries();
    const failing = store.db.transaction().execute(async (trx) => {
      await q.insert(trx, integration('pg_open_tx'));
      await sleep(20); // other requests run while this transaction is open
      throw new Error('the transaction fails');
    });
    await sleep(5);
    const outside = q.insert(store.db, integration('pg_outside'));
    await expect(failing).rejects.toThrow('the transaction fails');
    await outside;
    expect(committed('pg_outside')).toEqual({ id: 'pg_outside', name: 'name of pg_outside' });
    expect(committed('pg_open_tx')).toBeUndefined();
  });

  it('reports a failing prepared write and keeps the store usable', async () => {
    const q = preparedQueries();
    await q.insert(store.db, integration('pg_dup'));
    await expect(async () => q.insert(store.db, integration('pg_dup'))).rejects.toThrow(/UNIQUE constraint failed/);
    await q.insert(store.db, integration('pg_after_dup'));
    expect(committed('pg_after_dup')).toEqual({ id: 'pg_after_dup', name: 'name of pg_after_dup' });
    expect(store.sqlite?.inTransaction).toBe(false);
  });
});

describe('allColumns', () => {
  it('returns the list and, at compile time, accepts only every column of the row', () => {
    const complete = allColumns<IntegrationsTable>()(['id', 'name', 'trust_level', 'policy_json', 'created_at', 'updated_at', 'deleted_at']);
    expect(complete).toEqual(['id', 'name', 'trust_level', 'policy_json', 'created_at', 'updated_at', 'deleted_at']);

    // `npm run typecheck` fails if a missing column or a foreign name stops being a type error.
    // @ts-expect-error deleted_at is missing
    const missing = allColumns<IntegrationsTable>()(['id', 'name', 'trust_level', 'policy_json', 'created_at', 'updated_at']);
    expect(missing).toHaveLength(6); // at run time it is the list as given
    // @ts-expect-error not a column of the row
    allColumns<IntegrationsTable>()(['id', 'name', 'trust_level', 'policy_json', 'created_at', 'updated_at', 'deleted_at', 'nope']);
  });

  it('gives slots() a complete INSERT: every column gets its own slot', () => {
    const values = slots<IntegrationsTable>(INTEGRATION_COLUMNS);
    expect(Object.keys(values).sort()).toEqual([...INTEGRATION_COLUMNS].sort());
    expect(new Set(Object.values(values)).size).toBe(INTEGRATION_COLUMNS.length);
  });
});
