import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { NEEDS_POSTGRES, POSTGRES_URL, useRecordingDatabase } from '../../test/helpers/stores.js';
import { inlineParameters, literal, pipelinedBatch, pipelinedCommitHook, pipelinedKysely, pipelinedTransaction, type PipelinedTransaction } from './pg-pipeline.js';


describe('inlineParameters', () => {
  it('writes each $n as the literal of its parameter, $10 as the tenth', () => {
    const params = Array.from({ length: 10 }, (_, i) => `v${i + 1}`);
    expect(inlineParameters('select $1, $10, $2', params)).toBe("select 'v1', 'v10', 'v2'");
  });

  it('leaves quoted text, quoted identifiers and comments alone', () => {
    expect(inlineParameters(`select '$1 it''s', "col$1", $1 -- $1\n, $2`, ['a', 'b'])).toBe(`select '$1 it''s', "col$1", 'a' -- $1\n, 'b'`);
  });

  it('quotes values as node-postgres sends them: quotes doubled, backslashes escaped, null, numbers, booleans, buffers, objects', () => {
    expect(literal("it's")).toBe("'it''s'");
    expect(literal('a\\b')).toBe(" E'a\\\\b'");
    expect(literal(null)).toBe('NULL');
    expect(literal(undefined)).toBe('NULL');
    expect(literal(1796128115631)).toBe("'1796128115631'");
    expect(literal(-5)).toBe("'-5'");
    expect(literal(true)).toBe("'true'");
    expect(literal(Buffer.from([1, 255]))).toBe("'\\x01ff'::bytea");
    expect(literal({ a: "'" })).toBe(`'{"a":"''"}'`);
  });

  it("writes every value as node-postgres's own functions would: its prepared text, quoted by escapeLiteral", () => {
    const utils = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue(value: unknown): unknown; escapeLiteral(text: string): string };
    const reference = (value: unknown): string => {
      const prepared = utils.prepareValue(value);
      if (prepared === null) return 'NULL';
      if (Buffer.isBuffer(prepared)) return `'\\x${prepared.toString('hex')}'::bytea`;
      return utils.escapeLiteral(prepared as string);
    };
    const values: unknown[] = [
      '', 'plain', "it's", 'a\\b', "both ' and \\", "''", 'çãõ 🙂 \u0000-free', '{"code_sealed":"v1.x"}', `${'x'.repeat(5000)}'`,
      0, -0, 7, -5, 1796128115631, 0.1, 1e21, Number.MAX_SAFE_INTEGER, NaN, Infinity,
      true, false, null, undefined, 12n, { a: "'", b: '\\' }, ['a', "b'"], Buffer.from([0, 1, 255]),
    ];
    for (let i = 0; i < 200; i++) values.push(String.fromCharCode(...Array.from({ length: i % 17 }, (_, j) => [39, 92, 97, 10, 0x1f600 % 0xffff][(i + j) % 5]!)));
    for (const value of values) expect(literal(value), String(value)).toBe(reference(value));
  });

  it('refuses a placeholder without a parameter and an unterminated quote', () => {
    expect(() => inlineParameters('select $2', ['a'])).toThrow(/\$2/);
    expect(() => inlineParameters("select 'x", ['a'])).toThrow(/unterminated/);
  });
});

describe.skipIf(!POSTGRES_URL)(`pipelinedTransaction on Postgres${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  const db = useRecordingDatabase(3, async (pool) => {
    await pool.query('create table t (id text primary key, n bigint not null, note text)');
  });

  const insert = (trx: PipelinedTransaction, id: string, n: number, note: string | null) => trx.run('insert into t (id, n, note) values ($1, $2, $3)', [id, n, note], { deferred: true });
  const count = async (): Promise<number> => Number((await db.pool.query('select count(*)::int as c from t')).rows[0].c);

  it('sends deferred writes with the COMMIT: a transaction that only writes is one round trip', async () => {
    db.trips.length = 0;
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'a', 1, "it's \\ $1");
      await insert(trx, 'b', 2, null);
    });
    expect(db.trips).toHaveLength(1);
    expect(db.trips[0]).toMatch(/^BEGIN;\n.*;\n.*;\nCOMMIT$/s);
    expect((await db.pool.query("select note from t where id = 'a'")).rows[0].note).toBe("it's \\ $1");
  });

  it('a read takes what was deferred before it in its round trip, and reads asked together share one', async () => {
    db.trips.length = 0;
    const seen = await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'c', 3, null);
      const [mine, all] = await Promise.all([
        trx.run<{ n: number }>('select n from t where id = $1', ['c']),
        trx.run<{ c: number }>('select count(*)::int as c from t', []),
      ]);
      return { n: Number(mine.rows[0]?.n), c: all.rows[0]?.c };
    });
    expect(seen).toEqual({ n: 3, c: 3 });
    expect(db.trips).toHaveLength(2); // BEGIN, the insert and both reads; then COMMIT
  });

  it('a deferred write that fails fails the commit, which rolls back everything of the transaction', async () => {
    const before = await count();
    await expect(
      pipelinedTransaction(db.kysely, db.pool, async (trx) => {
        await insert(trx, 'd', 4, null);
        await insert(trx, 'a', 5, null); // duplicate key
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await count()).toBe(before);
    // The connection is usable afterwards (no transaction left open on it).
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => insert(trx, 'e', 6, null));
    expect(await count()).toBe(before + 1);
  });

  it('a throw in the work rolls back what was sent, and sends nothing when nothing was', async () => {
    const before = await count();
    db.trips.length = 0;
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'f', 7, null);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(db.trips).toHaveLength(0);
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'g', 8, null);
      await trx.run('select 1', []);
      throw new Error('after a read');
    })).rejects.toThrow('after a read');
    expect(db.trips.at(-1)).toBe('ROLLBACK');
    expect(await count()).toBe(before);
  });

  it('runs after-commit work once the COMMIT succeeded, in order, before the promise settles', async () => {
    const ran: string[] = [];
    const settled = pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'h', 9, null);
      trx.afterCommit(() => ran.push('first'));
      // Through the hook fan-out finds for it, and for a Kysely instance running in it.
      pipelinedCommitHook(trx)?.(() => ran.push('hook'));
      pipelinedCommitHook(pipelinedKysely(trx))?.(() => ran.push('kysely'));
      expect(ran).toEqual([]);
      return 'done';
    }).then((value) => {
      ran.push(value);
    });
    await settled;
    expect(ran).toEqual(['first', 'hook', 'kysely', 'done']);
    expect((await db.pool.query("select n from t where id = 'h'")).rows).toEqual([{ n: 9 }]);
  });

  it('never runs after-commit work of a transaction rolled back: a throw, a failed write, a failed COMMIT', async () => {
    const ran: string[] = [];
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'i', 10, null);
      trx.afterCommit(() => ran.push('thrown'));
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      trx.afterCommit(() => ran.push('duplicate'));
      await insert(trx, 'a', 11, null); // fails with the COMMIT's round trip
    })).rejects.toMatchObject({ code: '23505' });
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      trx.afterCommit(() => ran.push('failed read'));
      await trx.run('select * from missing_table', []);
    })).rejects.toMatchObject({ code: '42P01' });
    expect(ran).toEqual([]);
    // A throwing piece of work does not undo the commit nor stop the rest.
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'j', 12, null);
      trx.afterCommit(() => {
        throw new Error('a bug');
      });
      trx.afterCommit(() => ran.push('after the throw'));
    });
    expect(ran).toEqual(['after the throw']);
  });

  it('a transaction-less batch, and anything that is not a pipelined transaction, has no commit hook', async () => {
    await pipelinedBatch(db.kysely, db.pool, async (batch) => {
      expect(pipelinedCommitHook(batch)).toBeNull();
      expect(() => batch.afterCommit(() => {})).toThrow(/no COMMIT/);
    });
    expect(pipelinedCommitHook(db.kysely)).toBeNull();
    expect(pipelinedCommitHook(undefined)).toBeNull();
  });

  it('a failed read rejects the statement, and later statements and the commit report the same error', async () => {
    await expect(pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      const failing = trx.run('select * from missing_table', []);
      await expect(failing).rejects.toMatchObject({ code: '42P01' });
      await expect(trx.run('select 1', [])).rejects.toMatchObject({ code: '42P01' });
    })).rejects.toMatchObject({ code: '42P01' });
  });
});

describe.skipIf(!POSTGRES_URL)(`pipelined statements prepared on the connection${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  // One connection, at most three prepared statements on it.
  const db = useRecordingDatabase(1, async (pool) => {
    await pool.query('create table p (id text primary key, n bigint not null, note text)');
  }, 3);
  const insert = (trx: PipelinedTransaction, id: string, n: number, note: string | null) => trx.run('insert into p (id, n, note) values ($1, $2, $3)', [id, n, note], { deferred: true });
  const read = (trx: PipelinedTransaction, id: string) => trx.run<{ n: number; note: string | null }>('select n, note from p where id = $1', [id]);

  it('prepares a statement in the round trip that first sends it, then only EXECUTEs it, with the same results', async () => {
    db.trips.length = 0;
    const first = await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'a', 1, "it's \\ $1");
      await insert(trx, 'b', 2, null); // the same statement in the same round trip: prepared once
      return (await read(trx, 'a')).rows;
    });
    expect(first).toEqual([{ n: 1, note: "it's \\ $1" }]);
    expect(db.trips[0]?.match(/PREPARE otpgate_\w+ AS insert into p/g)).toHaveLength(1);
    expect(db.trips[0]?.match(/EXECUTE otpgate_\w+\(/g)).toHaveLength(3);
    db.trips.length = 0;
    const second = await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await insert(trx, 'c', 3, null);
      return (await read(trx, 'b')).rows;
    });
    expect(second).toEqual([{ n: 2, note: null }]);
    expect(db.trips.join('\n')).not.toContain('PREPARE');
    expect(db.trips[0]).toMatch(/^BEGIN;\nEXECUTE otpgate_\w+\('c', '3', NULL\);\nEXECUTE otpgate_\w+\('b'\)$/);
  });

  it('a round trip that failed leaves its new statements unprepared as far as it knows: the next one prepares them under new names', async () => {
    const put = (trx: PipelinedTransaction, id: string) => trx.run('insert into p (id, n) values ($1, 0)', [id], { deferred: true });
    // Failed before its PREPARE ran (an earlier statement of the round trip failed): the statement does not exist.
    await expect(
      pipelinedTransaction(db.kysely, db.pool, async (trx) => {
        const failing = trx.run('select * from missing_table', []);
        await put(trx, 'y');
        await failing;
      }),
    ).rejects.toMatchObject({ code: '42P01' });
    // Failed after its PREPARE ran (a duplicate key in the same round trip): the statement exists.
    await expect(
      pipelinedTransaction(db.kysely, db.pool, async (trx) => {
        await put(trx, 'z');
        await put(trx, 'a');
      }),
    ).rejects.toMatchObject({ code: '23505' });
    db.trips.length = 0;
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => put(trx, 'z'));
    expect(db.trips[0]).toMatch(/PREPARE otpgate_\w+ AS insert into p \(id, n\)/); // under a name not used before
    expect((await db.pool.query("select count(*)::int as c from p where id in ('y', 'z')")).rows[0].c).toBe(1);
  });

  it('beyond the limit (three here) a statement is sent with its values written in', async () => {
    db.trips.length = 0;
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => trx.run('update p set note = $1 where id = $2', ['x', 'c']));
    expect(db.trips[0]).toContain("update p set note = 'x' where id = 'c'");
    expect((await db.pool.query("select note from p where id = 'c'")).rows[0].note).toBe('x');
  });

});


describe.skipIf(!POSTGRES_URL)(`adjacent one-row INSERTs of one statement, merged${POSTGRES_URL ? '' : ` (skipped: ${NEEDS_POSTGRES})`}`, () => {
  const db = useRecordingDatabase(1, async (pool) => {
    await pool.query('create table parent (id text primary key)');
    await pool.query('create table child (id text primary key, parent_id text not null references parent (id), n bigint not null, note text, data jsonb)');
  }, 10);
  // As Kysely compiles an insert of one object (quoted names, the row's values in order).
  const parent = (trx: PipelinedTransaction, id: string) => trx.run('insert into "parent" ("id") values ($1)', [id], { deferred: true });
  const child = (trx: PipelinedTransaction, id: string, parentId: string, n: number, note: string | null, data: object | null = null) =>
    trx.run('insert into "child" ("id", "parent_id", "n", "note", "data") values ($1, $2, $3, $4, $5) on conflict do nothing', [id, parentId, n, note, data], { deferred: true });
  const children = async () => (await db.pool.query('select id, parent_id, n::text as n, note, data from child order by id')).rows;

  it('sends them as one multi-row INSERT each, in the order asked (a parent before its children), with the values as sent one by one', async () => {
    db.trips.length = 0;
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await parent(trx, 'p1');
      await parent(trx, 'p2');
      await child(trx, 'c1', 'p1', 1796128115631, "it's \\ $1", { a: "'" });
      await child(trx, 'c2', 'p2', -5, null);
      await child(trx, 'c3', 'p1', 0, '');
      await parent(trx, 'p3'); // alone: run as its prepared statement
    });
    expect(db.trips).toHaveLength(1);
    const statements = db.trips[0]!.split(';\n');
    expect(statements[0]).toBe('BEGIN');
    expect(statements[1]).toBe(`insert into "parent" ("id") values ('p1'), ('p2')`);
    expect(statements[2]).toMatch(/^insert into "child" \("id", "parent_id", "n", "note", "data"\) values \('c1', .*\), \('c2', .*\), \('c3', .*\) on conflict do nothing$/);
    expect(statements.slice(3).join(';\n')).toMatch(/^PREPARE otpgate_\w+ AS insert into "parent" \("id"\) values \(\$1\);\nEXECUTE otpgate_\w+\('p3'\);\nCOMMIT$/);
    expect(await children()).toEqual([
      { id: 'c1', parent_id: 'p1', n: '1796128115631', note: "it's \\ $1", data: { a: "'" } },
      { id: 'c2', parent_id: 'p2', n: '-5', note: null, data: null },
      { id: 'c3', parent_id: 'p1', n: '0', note: '', data: null },
    ]);
  });

  it('keeps ON CONFLICT DO NOTHING: a row already there and one repeated in the same INSERT are skipped', async () => {
    await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await child(trx, 'c1', 'p2', 99, 'again');
      await child(trx, 'c4', 'p2', 4, 'new');
      await child(trx, 'c4', 'p1', 5, 'repeated');
    });
    const rows = await children();
    expect(rows.find((r) => r.id === 'c1')).toMatchObject({ parent_id: 'p1', n: '1796128115631' });
    expect(rows.find((r) => r.id === 'c4')).toMatchObject({ parent_id: 'p2', n: '4', note: 'new' });
  });

  it('a merged INSERT that fails fails the transaction as a whole: nothing of it is written', async () => {
    const before = (await children()).length;
    await expect(
      pipelinedTransaction(db.kysely, db.pool, async (trx) => {
        await parent(trx, 'p4');
        await parent(trx, 'p1'); // a duplicate key in the merged INSERT
        await child(trx, 'c5', 'p4', 1, null);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect((await db.pool.query("select count(*)::int as c from parent where id = 'p4'")).rows[0].c).toBe(0);
    expect((await children()).length).toBe(before);
  });

  it('leaves alone what is not adjacent, not deferred, or not a one-row INSERT of its parameters in order', async () => {
    db.trips.length = 0;
    const got = await pipelinedTransaction(db.kysely, db.pool, async (trx) => {
      await parent(trx, 'p5');
      await child(trx, 'c6', 'p5', 1, null);
      await parent(trx, 'p6'); // not next to p5
      await trx.run('insert into "parent" ("id") values ($1)', ['p7']); // not deferred: answered
      await trx.run(`insert into "child" ("id", "parent_id", "n", "note", "data") values ($1, $2, $3, 'fixed', NULL)`, ['c7', 'p5', 2], { deferred: true });
      await trx.run(`insert into "child" ("id", "parent_id", "n", "note", "data") values ($1, $2, $3, 'fixed', NULL)`, ['c8', 'p5', 3], { deferred: true });
      return (await trx.run<{ id: string }>('insert into "parent" ("id") values ($1) returning "id"', ['p8'])).rows;
    });
    expect(got).toEqual([{ id: 'p8' }]);
    const sent = db.trips.join(';\n').split(';\n').filter((s) => !s.startsWith('PREPARE') && s !== 'BEGIN' && s !== 'COMMIT');
    expect(sent).toHaveLength(7); // each on its own
    expect(sent.some((s) => s.includes('), ('))).toBe(false);
    expect((await db.pool.query("select count(*)::int as c from child where id in ('c6', 'c7', 'c8')")).rows[0].c).toBe(3);
  });
});
