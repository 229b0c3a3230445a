import type { Executor, IntegrationsTable } from './tables.js';

export type IntegrationRow = IntegrationsTable;

export async function insertIntegration(db: Executor, row: IntegrationRow): Promise<void> {
  await db.insertInto('integrations').values(row).execute();
}

export async function findIntegration(db: Executor, id: string): Promise<IntegrationRow | undefined> {
  return db.selectFrom('integrations').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

/** The policy settings of these integrations, deleted ones included (their verifications still change state, e.g. expire). */
export async function findPolicySettings(db: Executor, ids: string[]): Promise<Pick<IntegrationRow, 'id' | 'trust_level' | 'policy_json'>[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('integrations').select(['id', 'trust_level', 'policy_json']).where('id', 'in', ids).execute();
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listIntegrations(
  db: Executor,
  limit: number,
  after: { created_at: number; id: string } | null,
): Promise<IntegrationRow[]> {
  let q = db.selectFrom('integrations').selectAll().where('deleted_at', 'is', null);
  if (after) {
    q = q.where((eb) =>
      eb.or([eb('created_at', '<', after.created_at), eb.and([eb('created_at', '=', after.created_at), eb('id', '<', after.id)])]),
    );
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export async function updateIntegration(
  db: Executor,
  id: string,
  patch: Partial<Pick<IntegrationRow, 'name' | 'trust_level' | 'policy_json' | 'updated_at' | 'deleted_at'>>,
): Promise<void> {
  await db.updateTable('integrations').set(patch).where('id', '=', id).execute();
}

export async function countIntegrations(db: Executor): Promise<number> {
  const row = await db.selectFrom('integrations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}
