import type pg from 'pg';

/**
 * Queries sent one at a time with parameters (Kysely's, outside the pipelined transactions: the
 * check's read of the verification with its deliveries, the webhook and outbox claims, the records of
 * attempts) go as node-postgres *named* queries: each connection parses and plans a statement once
 * (node-postgres tracks which it has prepared) and then only binds and executes it. Without a name,
 * every execution was parsed and planned anew, which for the check's read (a join with an aggregate)
 * cost Postgres more than running it.
 *
 * Names are given per SQL text, the same in every connection, up to `max` texts (beyond, queries go
 * unnamed as before); a query without parameters is left alone (it may hold several statements).
 * The statements live in the server session: like the pipelined transactions' PREPAREs, this is off
 * with OTPGATE_POSTGRES_PREPARED_STATEMENTS=0 (behind PgBouncer in transaction mode).
 */
export class QueryNames {
  readonly #names = new Map<string, string>();
  #next = 0;

  constructor(private readonly max: number) {}

  /** The name for `text`, or undefined once `max` texts have one. */
  nameFor(text: string): string | undefined {
    let name = this.#names.get(text);
    if (name === undefined && this.#names.size < this.max) {
      // `otpgate_p_…`: never one of the pipelined transactions' PREPARE names (`otpgate_` + base 36).
      name = `otpgate_p_${(this.#next++).toString(36)}`;
      this.#names.set(text, name);
    }
    return name;
  }

  /**
   * A table changed under a prepared statement (another process migrated it: SQLSTATE 0A000, "cached
   * plan must not change result type"): every text gets a new name, so each connection prepares it
   * again (the old names are left unused on the server).
   */
  forget(): void {
    this.#names.clear();
  }
}

/** Makes `client.query(text, values)` with values a named query (see QueryNames). */
export function nameQueriesOn(client: pg.PoolClient, names: QueryNames): void {
  // The class's own query, looked up at each call (not captured): what wraps it later (a test's recorder) still sees every query.
  const proto = Object.getPrototypeOf(client) as { query: (...args: unknown[]) => unknown };
  const query = (...args: unknown[]): unknown => proto.query.apply(client, args);
  const named = (...args: unknown[]): unknown => {
    const [text, values] = args;
    if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || args.length > 2) return query(...args);
    const name = names.nameFor(text);
    if (name === undefined) return query(...args);
    const answer = query({ name, text, values }) as Promise<unknown>;
    return answer.catch((error: unknown) => {
      if ((error as { code?: unknown } | null)?.code === '0A000') names.forget();
      throw error;
    });
  };
  client.query = named as typeof client.query;
}
