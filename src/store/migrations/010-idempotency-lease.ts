import type { Kysely, Migration } from 'kysely';

/**
 * Idempotency claims that cannot outlive the request that made them:
 * - `lease_until`: when an in-flight claim lapses. A claim whose request died with its process (a
 *   SIGKILL between the claim and the stored answer) may be taken over by a retry once it has
 *   lapsed, instead of answering 409 for 24 h. Also the claim's fencing token: a takeover sets a
 *   later value, and the holder's writes to the row (and the operation it guards) require its own.
 * - `resource_kind` / `resource_id`: what the guarded operation created, written in the operation's
 *   own transaction (a verification, a session), so a crash before the answer is stored leaves a
 *   row that says what happened: a retry answers with that resource instead of running again.
 * Claims without a lease (in flight at the upgrade, or made by a process still on the old code
 * during a rolling upgrade) lapse a lease after they were made (see the idempotency plugin).
 */
export const idempotencyLease: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('idempotency_keys').addColumn('lease_until', 'bigint').execute();
    await db.schema.alterTable('idempotency_keys').addColumn('resource_kind', 'text').execute();
    await db.schema.alterTable('idempotency_keys').addColumn('resource_id', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of ['resource_id', 'resource_kind', 'lease_until']) {
      await db.schema.alterTable('idempotency_keys').dropColumn(column).execute();
    }
  },
};
