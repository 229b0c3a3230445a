import { prepared, slots, type QueryRunner } from './prepared.js';
import { fanOut, type WebhookHandoff } from '../webhooks/fan-out.js';
import type { EventsTable, Mode } from './tables.js';

// Prepared: a test-mode send records `verification.delivered` on every sandbox capture.
const insertEventQuery = prepared<EventsTable>((db) => db.insertInto('events').values(slots<EventsTable>(['id', 'integration_id', 'mode', 'type', 'data_json', 'created_at'])), { deferrable: true });

/**
 * Records an event in the caller's transaction, and with it the webhook delivery that announces it
 * when the integration and mode have an endpoint that wants the type (webhooks/fan-out.ts).
 */
export async function insertEvent(
  db: QueryRunner,
  row: { id: string; integration_id: string; mode: string; type: string; data: unknown; now: number },
  handoff?: WebhookHandoff,
): Promise<void> {
  const dataJson = JSON.stringify(row.data);
  await insertEventQuery(db, { id: row.id, integration_id: row.integration_id, mode: row.mode as Mode, type: row.type, data_json: dataJson, created_at: row.now });
  await fanOut(db, { id: row.id, integration_id: row.integration_id, mode: row.mode as Mode, type: row.type, now: row.now, data_json: dataJson }, handoff);
}
