import { describe, expect, it } from 'vitest';
import { NEEDS_POSTGRES, POSTGRES_URL, useRecordingDatabase } from '../../test/helpers/stores.js';
import { nameQueriesOn, QueryNames } from './pg-named-queries.js';

describe('QueryNames', () => {
  it('gives each text one name, up to max texts, and new names after forget()', () => {
    const names = new QueryNames(2);
    const a = names.nameFor('select $1');
    expect(a).toMatch(/^otpgate_p_\w+$/);
    expect(names.nameFor('select $1')).toBe(a);
    const b = names.nameFor('select $1, $2');
    expect(b).not.toBe(a);
    expect(names.nameFor('select $1, $2, $3')).toBeUndefined(); // over max: unnamed
    names.forget();
    const again = names.nameFor('select $1');
    expect(again).not.toBe(a);
    expect(again).not.toBe(b);
  });
});

describe.skipIf(!POSTGRES_URL)(`named queries on Postgres${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  const db = useRecordingDatabase(1, async (pool) => {
    await pool.query('create table q (id text primary key, n bigint not null)');
  });

  it('prepares a parameterised query once per connection and runs it by name; queries without values are left alone', async () => {
    const client = await db.pool.connect();
    try {
      nameQueriesOn(client, new QueryNames(10));
      await client.query('insert into q (id, n) values ($1, $2)', ['a', 1]);
      await client.query('insert into q (id, n) values ($1, $2)', ['b', 2]);
      await expect(client.query('insert into q (id, n) values ($1, $2)', ['a', 3])).rejects.toMatchObject({ code: '23505' });
      await client.query('insert into q (id, n) values ($1, $2)', ['c', 3]); // still usable after an error
      const { rows } = await client.query('select count(*)::int as c from q; select 1 as one'); // no values: a plain (multi-statement) query
      void rows;
      const prepared = await client.query<{ name: string; statement: string }>("select name, statement from pg_prepared_statements where name like 'otpgate_p_%'", []);
      expect(prepared.rows).toEqual([{ name: expect.stringMatching(/^otpgate_p_/), statement: 'insert into q (id, n) values ($1, $2)' }]);
      expect((await client.query('select id from q order by id', [])).rows.map((r: { id: string }) => r.id)).toEqual(['a', 'b', 'c']);
    } finally {
      client.release();
    }
  });
});
