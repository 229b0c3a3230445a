import { createRequire } from 'node:module';
import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import type pg from 'pg';

// node-postgres's own value conversion (what it sends for a parameter) and literal quoting.
const pgUtils = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue(value: unknown): string | Buffer | null;
  escapeLiteral(text: string): string;
};

/**
 * A Postgres transaction that reaches the server in as few round trips as its reads allow.
 *
 * node-postgres sends one statement per round trip, and a transaction of BEGIN, a lock, a read, four
 * INSERTs and COMMIT cost seven round trips in which the connection sat idle while holding its
 * locks. Here statements are queued and sent together, as one multi-statement query:
 * - `BEGIN` goes with the first statement sent, `COMMIT` with the last ones (a transaction that
 *   only writes is one round trip; one that reads first is two);
 * - a statement whose result the caller does not need (`deferred`: an INSERT, a lock) resolves at
 *   once and is sent with the next statement that must answer, or with the COMMIT;
 * - statements asked for in the same turn (e.g. under Promise.all) share a round trip.
 * A multi-statement query takes no bind parameters, so values are written into the SQL as quoted
 * literals, converted and quoted by node-postgres's own functions (the text it would have sent
 * as the parameter, an untyped literal as a parameter is untyped). A deferred statement's failure
 * is reported by the next statement sent and by the commit, which then rolls back: the transaction
 * fails as a whole, as it would have with the statement run on its own.
 */
export class PipelinedTransaction {
  /**
   * What goes in the next round trip: statements already rendered (`sql`), or a deferred INSERT of
   * one row kept as its statement and values (`insert`), rendered when sent: adjacent ones of the same
   * statement go as one multi-row INSERT (see statementsOf).
   */
  #queue: Array<QueuedStatement> = [];
  /** Statements PREPAREd by what is queued (confirmed on the connection once that round trip succeeds). */
  #preparing = new Map<string, string>();
  #begun = false;
  #failure: unknown = undefined;
  #failed = false;
  #open = true;
  #scheduled = false;
  /** Work to run once the COMMIT has succeeded (afterCommit); dropped when the transaction fails. */
  #afterCommit: Array<() => void> = [];

  constructor(
    /** The store's Kysely instance: prepared queries compile their SQL with it. */
    readonly kysely: Kysely<never>,
    private readonly client: pg.PoolClient,
    /**
     * No transaction of its own (pipelinedBatch): no BEGIN, no COMMIT; the statements of each round
     * trip run as Postgres runs a multi-statement query, in one implicit transaction. Nothing is
     * deferred (there is no COMMIT to carry it).
     */
    readonly implicit = false,
  ) {}

  run<R>(sql: string, parameters: readonly unknown[], options: { deferred?: boolean } = {}): Promise<QueryResult<R>> {
    if (!this.#open) return Promise.reject(new Error('the transaction is over'));
    if (this.#failed) return Promise.reject(this.#failure);
    if (options.deferred && !this.implicit) {
      const insert = oneRowInsert(sql);
      this.#queue.push(insert ? { sql: '', insert: { shape: insert, sql, parameters } } : { sql: this.#render(sql, parameters) });
      return Promise.resolve({ rows: [] });
    }
    const text = this.#render(sql, parameters);
    return new Promise<QueryResult<R>>((resolve, reject) => {
      this.#queue.push({ sql: text, settle: { resolve: resolve as (result: QueryResult<unknown>) => void, reject } });
      if (this.#scheduled) return;
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        void this.#flush();
      });
    });
  }

  /**
   * Runs `work` once the transaction's COMMIT has succeeded, before commit() returns (so before the
   * promise of pipelinedTransaction or a group commit settles); never when the transaction is rolled
   * back or its COMMIT fails or its outcome is unknown. `work` must not throw (if it does, the commit
   * stands and the rest still runs). Not for a transaction-less batch (pipelinedBatch).
   */
  afterCommit(work: () => void): void {
    if (this.implicit) throw new Error('a pipelined batch has no COMMIT to wait for');
    if (!this.#open) throw new Error('the transaction is over');
    this.#afterCommit.push(work);
  }

  /** Sends what is queued with the COMMIT; throws (after a rollback) if anything in the transaction failed. */
  async commit(): Promise<void> {
    this.#open = false;
    const afterCommit = this.#afterCommit;
    this.#afterCommit = [];
    const nothingAsked = !this.#failed && !this.#begun && this.#queue.length === 0;
    if (!this.#failed && !nothingAsked) {
      this.#queue.push({ sql: 'COMMIT' });
      await this.#flush();
    }
    if (this.#failed) {
      await this.#rollback();
      throw this.#failure;
    }
    for (const work of afterCommit) {
      try {
        work();
      } catch {
        // after-commit work must not throw; if it does, the commit stands and the rest still runs
      }
    }
  }

  /** Abandons the transaction: nothing queued is sent; what was sent is rolled back. */
  async rollback(): Promise<void> {
    this.#open = false;
    this.#queue = [];
    this.#afterCommit = [];
    if (this.#begun) await this.#rollback();
  }

  async #rollback(): Promise<void> {
    this.#begun = false;
    await this.client.query('ROLLBACK');
  }

  /**
   * The statement as the multi-statement query carries it: with its values as literals, as
   * `EXECUTE` of a statement prepared on this connection when the store prepares them (preceded,
   * the first time, by its `PREPARE`), else the statement itself with the literals written in.
   */
  #render(sql: string, parameters: readonly unknown[]): string {
    if (parameters.length === 0) return sql;
    const prepared = preparedOn.get(this.client);
    if (!prepared) return inlineParameters(sql, parameters);
    const args = parameters.map(literal).join(', ');
    const name = prepared.names.get(sql) ?? this.#preparing.get(sql);
    if (name !== undefined) return `EXECUTE ${name}(${args})`;
    if (prepared.names.size + this.#preparing.size >= prepared.max) return inlineParameters(sql, parameters);
    const fresh = `otpgate_${(nextName++).toString(36)}`;
    this.#preparing.set(sql, fresh);
    return `PREPARE ${fresh} AS ${sql};\nEXECUTE ${fresh}(${args})`;
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    // A PREPARE sent and not known to have run gets a new name next time (its name is never reused).
    const preparing = this.#preparing;
    this.#preparing = new Map();
    if (batch.length === 0) return;
    if (this.#failed) {
      for (const entry of batch) entry.settle?.reject(this.#failure);
      return;
    }
    let rendered: ReturnType<PipelinedTransaction['statementsOf']>;
    try {
      rendered = this.statementsOf(batch, preparing);
    } catch (error) {
      // A value that cannot be written as a literal: nothing is sent, and the transaction fails.
      this.#failed = true;
      this.#failure = error;
      for (const entry of batch) entry.settle?.reject(error);
      return;
    }
    const { statements, settles } = rendered;
    const offset = this.#begun || this.implicit ? 0 : 1;
    if (offset === 1) statements.unshift('BEGIN');
    this.#begun = !this.implicit;
    try {
      // Sent in order: node-postgres queues a client's queries, so a later flush follows this one.
      const answer = (await this.client.query(statements.join(';\n'))) as unknown as pg.QueryResult | pg.QueryResult[];
      const results = (Array.isArray(answer) ? answer : [answer]).filter((result) => result.command !== 'PREPARE');
      const prepared = preparedOn.get(this.client);
      if (prepared) for (const [sql, name] of preparing) prepared.names.set(sql, name);
      settles.forEach((settle, i) => settle?.resolve(toQueryResult(results[i + offset])));
    } catch (error) {
      // A table changed under a statement prepared before (another process migrated it): prepare anew.
      if ((error as { code?: unknown }).code === '0A000') preparedOn.get(this.client)?.names.clear();
      this.#failed = true;
      this.#failure = error;
      for (const entry of batch) entry.settle?.reject(error);
    }
  }

  /**
   * The statements of a round trip, in the order asked, and who waits for each one's result. Adjacent
   * deferred one-row INSERTs of the same statement (a group commit's sends write their verifications,
   * then their deliveries, … side by side) go as one multi-row INSERT with their values written in:
   * Postgres runs one statement instead of one EXECUTE per row, and node-postgres parses one result.
   * Nothing is reordered, so what one row needs of another (a foreign key) is written before it as
   * before; a failure fails the transaction as a whole, as a deferred statement's always did.
   */
  private statementsOf(batch: QueuedStatement[], preparing: Map<string, string>): { statements: string[]; settles: Array<QueuedStatement['settle']> } {
    const statements: string[] = [];
    const settles: Array<QueuedStatement['settle']> = [];
    for (let i = 0; i < batch.length; ) {
      const entry = batch[i]!;
      const insert = entry.insert;
      if (!insert) {
        statements.push(entry.sql);
        settles.push(entry.settle);
        i++;
        continue;
      }
      let end = i + 1;
      while (end < batch.length && batch[end]!.insert?.sql === insert.sql) end++;
      if (end - i === 1) {
        this.#preparing = preparing; // a PREPARE it needs is confirmed with this round trip's
        statements.push(this.#render(insert.sql, insert.parameters));
        this.#preparing = new Map();
      } else {
        const rows: string[] = [];
        for (let k = i; k < end; k++) rows.push(`(${batch[k]!.insert!.parameters.map(literal).join(', ')})`);
        statements.push(`${insert.shape.head}${rows.join(', ')}${insert.shape.tail}`);
      }
      settles.push(undefined);
      i = end;
    }
    return { statements, settles };
  }
}

interface QueuedStatement {
  sql: string;
  insert?: { shape: InsertShape; sql: string; parameters: readonly unknown[] };
  settle?: { resolve(result: QueryResult<unknown>): void; reject(error: unknown): void };
}

/** A one-row `INSERT … VALUES ($1, …, $n)` split around its row: what a multi-row INSERT of it is made of. */
interface InsertShape {
  head: string;
  tail: string;
}

const insertShapes = new Map<string, InsertShape | null>();
const ONE_ROW_INSERT = /^(insert into "[^"]+" \([^()]*\) values )\((\$\d+(?:, \$\d+)*)\)( on conflict do nothing)?$/;

/**
 * The shape of `sql` when it is a one-row INSERT whose row is its parameters in order (`$1, …, $n`,
 * as Kysely compiles an insert of one object), with no RETURNING and no other clause than ON CONFLICT
 * DO NOTHING; null for any other statement. Decided once per statement.
 */
function oneRowInsert(sql: string): InsertShape | null {
  let shape = insertShapes.get(sql);
  if (shape !== undefined) return shape;
  shape = null;
  const match = ONE_ROW_INSERT.exec(sql);
  if (match && match[2]!.split(', ').every((placeholder, i) => placeholder === `$${i + 1}`)) shape = { head: match[1]!, tail: match[3] ?? '' };
  if (insertShapes.size < 1_000) insertShapes.set(sql, shape);
  return shape;
}

/** Per connection: the statements PREPAREd on it (SQL text → name), where the store prepares them. */
interface PreparedStatements {
  names: Map<string, string>;
  /** Statements prepared at most; beyond, statements are sent with their values written in. */
  max: number;
}

const preparedOn = new WeakMap<object, PreparedStatements>();
/** Names are unique in the process, never reused: a PREPARE that may or may not have run is forgotten, not retried under its name. */
let nextName = 0;

/**
 * Pipelined statements sent on `client` (a connection of the store's pool, from its connect event)
 * are prepared on it, up to `max` distinct statements: each is planned once per connection (`PREPARE`
 * in the round trip that first uses it) and then run as `EXECUTE name(values…)`, which Postgres
 * parses in a fraction of the statement's time and runs with the plan it kept. Prepared statements
 * live in the server session: behind a pooler in transaction mode (PgBouncer, whose
 * `max_prepared_statements` tracks only protocol-level ones, not SQL PREPARE) this must be off
 * (OTPGATE_POSTGRES_PREPARED_STATEMENTS=0).
 */
export function prepareStatementsOn(client: object, max: number): void {
  if (max > 0) preparedOn.set(client, { names: new Map(), max });
}

function toQueryResult(result: pg.QueryResult | undefined): QueryResult<unknown> {
  if (!result) return { rows: [] };
  const { command, rowCount, rows } = result;
  const affected = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
  return affected ? { numAffectedRows: BigInt(rowCount ?? 0), rows: rows ?? [] } : { rows: rows ?? [] };
}

/** `value` as a quoted SQL literal holding the text node-postgres would send for it as a parameter. */
export function literal(value: unknown): string {
  // Strings and numbers (nearly every value) directly: node-postgres sends a string as it is and a
  // number as its toString().
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') return `'${value}'`;
  const prepared = pgUtils.prepareValue(value);
  if (prepared === null) return 'NULL';
  if (Buffer.isBuffer(prepared)) return `'\\x${prepared.toString('hex')}'::bytea`;
  return quote(prepared);
}

const NEEDS_ESCAPING = /['\\]/;

/**
 * node-postgres's escapeLiteral, which builds its answer a character at a time (in a profile of sends
 * on Postgres, rendering the pipelined statements' values was a tenth of the main thread): text
 * without a quote or a backslash is only put between quotes, the rest goes to escapeLiteral.
 */
function quote(text: string): string {
  return NEEDS_ESCAPING.test(text) ? pgUtils.escapeLiteral(text) : `'${text}'`;
}

/**
 * Replaces the `$n` placeholders of a statement compiled for Postgres with literals of its
 * parameters. Quoted strings, quoted identifiers and comments are copied as they are.
 */
export function inlineParameters(sql: string, parameters: readonly unknown[]): string {
  if (parameters.length === 0) return sql;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      out += sql.slice(i, end);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '$' && isDigit(sql.charCodeAt(i + 1))) {
      let j = i + 1;
      while (j < sql.length && isDigit(sql.charCodeAt(j))) j++;
      const index = Number(sql.slice(i + 1, j)) - 1;
      if (index < 0 || index >= parameters.length) throw new Error(`no parameter for $${index + 1}`);
      out += literal(parameters[index]);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** The index just past the quote closing the one at `start` (a doubled quote is part of the text). */
function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const next = sql.indexOf(quote, i);
    if (next === -1) throw new Error('unterminated quoted text in a statement');
    if (sql[next + 1] === quote) {
      i = next + 2;
      continue;
    }
    return next + 1;
  }
}

/**
 * Runs `work` in a pipelined transaction on a connection of `pool`; the promise settles once the
 * transaction is committed (or rolled back, rethrowing what failed).
 */
export function pipelinedTransaction<T>(kysely: Kysely<never>, pool: pg.Pool, work: (trx: PipelinedTransaction) => Promise<T>): Promise<T> {
  return withPoolClient(pool, async (client) => {
    const trx = new PipelinedTransaction(kysely, client);
    let result: T;
    try {
      result = await work(trx);
    } catch (error) {
      await trx.rollback();
      throw error;
    }
    await trx.commit();
    return result;
  });
}

/**
 * Runs `work`'s statements on one connection of `pool` without a transaction: those asked for in the
 * same turn (e.g. under Promise.all) go as one multi-statement query, one round trip, which Postgres
 * runs as one implicit transaction (they are committed, or fail, together). For independent
 * statements that would otherwise each take a round trip of their own, such as a check's limit step
 * and its read of the verification.
 */
export function pipelinedBatch<T>(kysely: Kysely<never>, pool: pg.Pool, work: (batch: PipelinedTransaction) => Promise<T>): Promise<T> {
  return withPoolClient(pool, (client) => work(new PipelinedTransaction(kysely, client, true)));
}

/** Runs `use` with a connection of `pool`; one that failed with a connection error is not reused. */
export async function withPoolClient<T>(pool: pg.Pool, use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    return await use(client);
  } catch (error) {
    // A connection whose ROLLBACK failed may still hold an open transaction: it is not reused.
    broken = isConnectionError(error);
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Not an answer of the server (a SQLSTATE) but a failure of the connection (ECONNRESET, a timeout). */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code));
}

/**
 * A Kysely instance whose every query runs in `trx` (no transaction of its own: it is inside one).
 * Unlike a Kysely transaction, which runs one query at a time, it lets callers run queries
 * concurrently, so independent work (the outbox worker recording a batch of messages) shares round
 * trips: the first statements of every message go together, then the second ones, and so on.
 */
export function pipelinedKysely<DB>(trx: PipelinedTransaction): Kysely<DB> {
  const kysely = newPipelinedKysely<DB>(trx);
  transactionOf.set(kysely, trx);
  return kysely;
}

/** The pipelined transaction each pipelinedKysely instance runs in. */
const transactionOf = new WeakMap<object, PipelinedTransaction>();

/**
 * How to run work after the COMMIT of the transaction `runner` writes in: a pipelined transaction
 * (or a Kysely instance of pipelinedKysely) has one; anything else (a Kysely transaction, a
 * transaction-less batch), null.
 */
export function pipelinedCommitHook(runner: unknown): ((work: () => void) => void) | null {
  const trx = runner instanceof PipelinedTransaction ? runner : typeof runner === 'object' && runner !== null ? transactionOf.get(runner) : undefined;
  if (!trx || trx.implicit) return null;
  return (work) => trx.afterCommit(work);
}

function newPipelinedKysely<DB>(trx: PipelinedTransaction): Kysely<DB> {
  const connection: DatabaseConnection = {
    executeQuery: <R>(compiled: CompiledQuery) => trx.run<R>(compiled.sql, compiled.parameters),
    // eslint-disable-next-line require-yield -- never streams
    async *streamQuery() {
      throw new Error('a pipelined transaction does not stream');
    },
  };
  const refuse = (): Promise<never> => Promise.reject(new Error('already inside a pipelined transaction'));
  const driver: Driver = {
    init: async () => {},
    acquireConnection: async () => connection,
    beginTransaction: refuse,
    commitTransaction: refuse,
    rollbackTransaction: refuse,
    releaseConnection: async () => {},
    destroy: async () => {},
  };
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}
