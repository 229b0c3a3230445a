import type { Executor, Mode } from './tables.js';

/** Records an event (for the webhooks that announce it) in the caller's transaction. */
export async function insertEvent(db: Executor, row: { id: string; integration_id: string; mode: string; type: string; data: unknown; now: number }): Promise<void> {
  await db
    .insertInto('events')
    .values({ id: row.id, integration_id: row.integration_id, mode: row.mode as Mode, type: row.type, data_json: JSON.stringify(row.data), created_at: row.now })
    .execute();
}
