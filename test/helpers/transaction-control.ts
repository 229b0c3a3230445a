import type BetterSqlite3 from 'better-sqlite3';

/**
 * Records the transaction-control statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) run on
 * `sqlite`, whether through `exec` or through a prepared statement, in the order they are run.
 */
export function recordTransactionControl(sqlite: BetterSqlite3.Database): string[] {
  const log: string[] = [];
  const control = /^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;
  const exec = sqlite.exec.bind(sqlite);
  sqlite.exec = (source: string) => {
    if (control.test(source)) log.push(source.trim());
    return exec(source);
  };
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((source: string) => {
    const statement = prepare(source);
    if (control.test(source)) {
      const run = statement.run.bind(statement);
      statement.run = (...parameters: unknown[]) => {
        log.push(source.trim());
        return run(...parameters);
      };
    }
    return statement;
  }) as typeof sqlite.prepare;
  return log;
}
