import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';

/**
 * `column = any(array(subquery))`: the rows whose `column` is among the subquery's, for Postgres
 * claims (an UPDATE of the rows a `LIMIT … FOR UPDATE SKIP LOCKED` subquery chose).
 *
 * Written `column IN (subquery)`, the planner may join the subquery as the inner side of a nested
 * loop and run it again for every row of the outer scan: it does when its statistics say the table
 * holds a row or two, as they do for a fresh database until autovacuum's first ANALYZE, and a plan
 * kept by a prepared statement keeps that shape while the table grows. Claiming 1,000 of 2,000 due
 * rows then ran the subquery 2,000 times (756 ms, against 22 ms). `array(subquery)` is computed once
 * (an InitPlan) whatever the statistics say, and the outer rows are then found by their keys.
 */
export function inSubqueryOnce(column: string, subquery: Expression<unknown>): RawBuilder<SqlBool> {
  return sql<SqlBool>`${sql.ref(column)} = any(array(${subquery}))`;
}
