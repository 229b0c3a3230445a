import type { Executor, IntegrationDeliveryTable } from './tables.js';

/** One integration's delivery settings (`settings_json`: the stored settings, credentials sealed). */
export type IntegrationDeliveryRow = IntegrationDeliveryTable;

export async function getIntegrationDelivery(db: Executor, integrationId: string): Promise<IntegrationDeliveryRow | undefined> {
  return db.selectFrom('integration_delivery').selectAll().where('integration_id', '=', integrationId).executeTakeFirst();
}

/** Inserts the row, or replaces the settings of an existing one. */
export async function upsertIntegrationDelivery(db: Executor, row: IntegrationDeliveryRow): Promise<void> {
  await db
    .insertInto('integration_delivery')
    .values(row)
    .onConflict((oc) => oc.column('integration_id').doUpdateSet({ settings_json: row.settings_json, updated_at: row.updated_at }))
    .execute();
}

/** Removes the row; true when there was one. */
export async function deleteIntegrationDelivery(db: Executor, integrationId: string): Promise<boolean> {
  const res = await db.deleteFrom('integration_delivery').where('integration_id', '=', integrationId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * The rows whose settings text mentions `"phone_number_id":"<id>"` (the WhatsApp webhook's lookup of
 * the integrations sending from one number), of integrations not deleted. `phoneNumberId` must be
 * digits only (validated when saved): it goes into a LIKE pattern. Callers parse and re-check the match.
 */
export async function findIntegrationDeliveryByPhoneNumberId(db: Executor, phoneNumberId: string): Promise<IntegrationDeliveryRow[]> {
  if (!/^[0-9]{1,64}$/.test(phoneNumberId)) return [];
  return db
    .selectFrom('integration_delivery')
    .innerJoin('integrations', 'integrations.id', 'integration_delivery.integration_id')
    .select(['integration_delivery.integration_id', 'integration_delivery.settings_json', 'integration_delivery.updated_at'])
    .where('integrations.deleted_at', 'is', null)
    .where('integration_delivery.settings_json', 'like', `%"phone_number_id":"${phoneNumberId}"%`)
    .execute();
}
