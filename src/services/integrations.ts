import { toIso, type Clock, type Random } from '../domain/clock.js';
import { ProblemError, fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { MAX_REQUIRE_OTP_ACTIONS, effectivePolicy, mergePolicyPatch, policyCapErrors, type EffectivePolicy, type PolicyPatch, type TrustLevel } from '../domain/policy.js';
import { listKeys, revokeAllKeys, revokeKey } from '../store/api-keys-repo.js';
import { IDEMPOTENT_RESOURCE, recordResource, type IdempotencyClaim } from '../store/idempotency-repo.js';
import { findIntegration, insertIntegration, listIntegrations, updateIntegration, type IntegrationRow } from '../store/integrations-repo.js';
import type { Db, Mode } from '../store/tables.js';
import { issueKey, presentKey, type IssuedKey, type KeyView } from './api-keys.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

export interface AdminDeps {
  db: Db;
  clock: Clock;
  random: Random;
  serverSecret: Buffer;
}

export interface IntegrationView {
  id: string;
  name: string;
  trust_level: EffectivePolicy['trust_level'];
  policy: EffectivePolicy;
  created_at: string;
  updated_at: string;
  keys?: KeyView[];
}

export function integrationPolicy(row: Pick<IntegrationRow, 'trust_level' | 'policy_json'>): EffectivePolicy {
  return effectivePolicy(row.trust_level as TrustLevel, JSON.parse(row.policy_json) as PolicyPatch);
}

function present(row: IntegrationRow, keys?: KeyView[]): IntegrationView {
  const policy = integrationPolicy(row);
  return {
    id: row.id,
    name: row.name,
    trust_level: policy.trust_level,
    policy,
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
    ...(keys ? { keys } : {}),
  };
}

const notFound = () => fail<never>(problem('not-found', 'No integration has this id.'));

/**
 * 400 validation-error when the policy that would be stored breaks a cap of the merged result (more
 * than 64 actions); `before`, the policy stored now, lets one already over the cap shrink or stay.
 */
export function checkPolicyCaps(trustLevel: TrustLevel, overrides: PolicyPatch, before?: EffectivePolicy): Result<void> {
  const errors = policyCapErrors(effectivePolicy(trustLevel, overrides), before);
  return errors ? fail(validationProblem(`The policy would exceed its caps (require_otp_for: at most ${MAX_REQUIRE_OTP_ACTIONS} actions).`, errors)) : ok(undefined);
}

/** Creates an integration with one test and one live key (shown once in the result); recorded on an Idempotency-Key claim in the same transaction. */
export async function createIntegration(
  deps: AdminDeps,
  input: { name: string; trust_level?: TrustLevel; policy?: PolicyPatch },
  claim?: IdempotencyClaim,
): Promise<IntegrationView & { keys_issued: { test: IssuedKey; live: IssuedKey } }> {
  const capped = checkPolicyCaps(input.trust_level ?? 'strict', input.policy ?? {});
  if (!capped.ok) throw new ProblemError(capped.problem); // the HTTP error handler answers it as the 400
  const now = deps.clock.now();
  const row: IntegrationRow = {
    id: newId('int', deps.random),
    name: input.name,
    trust_level: input.trust_level ?? 'strict',
    policy_json: JSON.stringify(input.policy ?? {}),
    created_at: now,
    updated_at: now,
    deleted_at: null,
  };
  const keys = await deps.db.transaction().execute(async (trx) => {
    await insertIntegration(trx, row);
    if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.integration, row.id);
    return { test: await issueKey(trx, deps, row.id, 'test'), live: await issueKey(trx, deps, row.id, 'live') };
  });
  return { ...present(row), keys_issued: keys };
}

export async function getIntegration(deps: AdminDeps, id: string): Promise<Result<IntegrationView>> {
  const row = await findIntegration(deps.db, id);
  if (!row) return notFound();
  return ok(present(row, (await listKeys(deps.db, id)).map(presentKey)));
}

export async function listIntegrationsPage(deps: AdminDeps, limit: number, cursor: string | undefined): Promise<Result<Page<IntegrationView>>> {
  const after = decodeCursor(cursor);
  if (after === 'invalid') return fail(problem('validation-error', 'The cursor is not valid.', { errors: { cursor: ['invalid'] } }));
  const rows = await listIntegrations(deps.db, limit + 1, after ? { created_at: after.t, id: after.id } : null);
  return ok(toPage(rows, limit, (r) => r.created_at, (r) => present(r)));
}

/** Renames, changes the trust level and/or merges a partial policy over the stored one. */
export async function patchIntegration(
  deps: AdminDeps,
  id: string,
  input: { name?: string; trust_level?: TrustLevel; policy?: PolicyPatch },
): Promise<Result<IntegrationView>> {
  const row = await findIntegration(deps.db, id);
  if (!row) return notFound();
  const stored = JSON.parse(row.policy_json) as PolicyPatch;
  const merged = input.policy ? mergePolicyPatch(stored, input.policy) : stored;
  const next: IntegrationRow = {
    ...row,
    name: input.name ?? row.name,
    trust_level: input.trust_level ?? row.trust_level,
    policy_json: JSON.stringify(merged),
    updated_at: deps.clock.now(),
  };
  // The schema caps one PATCH; the cap holds for what would be stored (two PATCHes of 60 are 123).
  const capped = checkPolicyCaps(next.trust_level as TrustLevel, merged, integrationPolicy(row));
  if (!capped.ok) return capped;
  await updateIntegration(deps.db, id, { name: next.name, trust_level: next.trust_level, policy_json: next.policy_json, updated_at: next.updated_at });
  return getIntegration(deps, id);
}

/** Deletes an integration: it disappears from the API and its keys stop working at once. */
export async function deleteIntegration(deps: AdminDeps, id: string): Promise<Result<{ id: string; deleted: true }>> {
  const row = await findIntegration(deps.db, id);
  if (!row) return notFound();
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (trx) => {
    await updateIntegration(trx, id, { deleted_at: now, updated_at: now });
    await revokeAllKeys(trx, id, now);
  });
  return ok({ id, deleted: true });
}

export async function createKey(deps: AdminDeps, id: string, mode: Mode, claim?: IdempotencyClaim): Promise<Result<IssuedKey>> {
  if (!(await findIntegration(deps.db, id))) return notFound();
  if (!claim) return ok(await issueKey(deps.db, deps, id, mode));
  // With an Idempotency-Key, the key is recorded on its claim in the same transaction.
  return ok(
    await deps.db.transaction().execute(async (trx) => {
      const issued = await issueKey(trx, deps, id, mode);
      await recordResource(trx, claim, IDEMPOTENT_RESOURCE.apiKey, issued.id);
      return issued;
    }),
  );
}

export async function deleteKey(deps: AdminDeps, id: string, keyId: string): Promise<Result<KeyView>> {
  if (!(await findIntegration(deps.db, id))) return notFound();
  if (!(await revokeKey(deps.db, id, keyId, deps.clock.now()))) return fail(problem('not-found', 'No active key of this integration has this id.'));
  const row = (await listKeys(deps.db, id)).find((k) => k.id === keyId);
  return row ? ok(presentKey(row)) : fail(problem('not-found', 'No key has this id.'));
}
