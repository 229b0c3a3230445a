import { toIso } from '../domain/clock.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { parseIdentifier, type IdentifierKind } from '../domain/identifiers.js';
import { newId } from '../domain/ids.js';
import {
  claimReference,
  findIdentitiesBy,
  findIdentityByReference,
  insertIdentity,
  listReferences,
  updateIdentity,
  type IdentityRow,
} from '../store/identities-repo.js';
import type { Executor } from '../store/tables.js';
import type { ServiceDeps, Tenant } from './context.js';

export interface IdentityView {
  id: string;
  reference: string;
  references: string[];
  email: string | null;
  email_verified: boolean;
  email_verified_at: string | null;
  phone: string | null;
  phone_verified: boolean;
  phone_verified_at: string | null;
  cpf: string | null;
  name: string | null;
  created_at: string;
}

export interface IdentityInput {
  email?: string | null;
  phone?: string | null;
  cpf?: string | null;
  name?: string | null;
}

export async function presentIdentity(db: Executor, row: IdentityRow): Promise<IdentityView> {
  return {
    id: row.id,
    reference: row.reference,
    references: await listReferences(db, row.id),
    email: row.email,
    email_verified: row.email_verified_at !== null,
    email_verified_at: row.email_verified_at === null ? null : toIso(row.email_verified_at),
    phone: row.phone,
    phone_verified: row.phone_verified_at !== null,
    phone_verified_at: row.phone_verified_at === null ? null : toIso(row.phone_verified_at),
    cpf: row.cpf,
    name: row.name,
    created_at: toIso(row.created_at),
  };
}

/** Normalises the email / phone / CPF fields given (null clears); each must be of its own kind. */
function normalise(input: IdentityInput): Result<Partial<Record<'email' | 'phone' | 'cpf', string | null>>> {
  const out: Partial<Record<'email' | 'phone' | 'cpf', string | null>> = {};
  const errors: Record<string, string[]> = {};
  for (const field of ['email', 'phone', 'cpf'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (value === null) {
      out[field] = null;
      continue;
    }
    const parsed = parseIdentifier(value);
    if (parsed.ok && parsed.identifier.kind === (field as IdentifierKind)) out[field] = parsed.identifier.value;
    else errors[field] = [parsed.ok ? `not_a_${field}` : parsed.error];
  }
  return Object.keys(errors).length ? fail(validationProblem('Some identity fields are not valid.', errors)) : ok(out);
}

const notFound = () => fail<never>(problem('not-found', 'No identity has this reference.'));

/** Creates an identity; only `reference` is required (a sparse identity). Given email/phone are unverified. */
export async function createIdentity(deps: ServiceDeps, tenant: Tenant, input: IdentityInput & { reference: string }): Promise<Result<IdentityView>> {
  const fields = normalise(input);
  if (!fields.ok) return fields;
  const now = deps.clock.now();
  const row: IdentityRow = {
    id: newId('idn', deps.random),
    integration_id: tenant.integrationId,
    mode: tenant.mode,
    reference: input.reference,
    email: fields.value.email ?? null,
    email_verified_at: null,
    phone: fields.value.phone ?? null,
    phone_verified_at: null,
    cpf: fields.value.cpf ?? null,
    name: input.name ?? null,
    created_at: now,
    updated_at: now,
  };
  const created = await deps.store.db.transaction().execute(async (trx) => {
    if (!(await claimReference(trx, tenant, input.reference, row.id, now))) return false;
    await insertIdentity(trx, row);
    return true;
  });
  if (!created) return fail(problem('conflict', 'An identity with this reference already exists.'));
  return ok(await presentIdentity(deps.store.db, row));
}

export async function getIdentity(deps: ServiceDeps, tenant: Tenant, reference: string): Promise<Result<IdentityView>> {
  const row = await findIdentityByReference(deps.store.db, tenant, reference);
  return row ? ok(await presentIdentity(deps.store.db, row)) : notFound();
}

/** Identities holding a phone, email or CPF (verified or not), oldest first. */
export async function searchIdentities(deps: ServiceDeps, tenant: Tenant, identifier: string): Promise<Result<{ data: IdentityView[]; next_cursor: null }>> {
  const parsed = parseIdentifier(identifier);
  if (!parsed.ok) return fail(validationProblem('Search by a phone, an email or a CPF.', { identifier: [parsed.error] }));
  const rows = await findIdentitiesBy(deps.store.db, tenant, parsed.identifier.kind, parsed.identifier.value);
  return ok({ data: await Promise.all(rows.map((r) => presentIdentity(deps.store.db, r))), next_cursor: null });
}

/** Updates fields; a changed email or phone is unverified until a verification proves it. */
export async function patchIdentity(deps: ServiceDeps, tenant: Tenant, reference: string, input: IdentityInput): Promise<Result<IdentityView>> {
  const fields = normalise(input);
  if (!fields.ok) return fields;
  const row = await findIdentityByReference(deps.store.db, tenant, reference);
  if (!row) return notFound();
  const patch: Parameters<typeof updateIdentity>[2] = { updated_at: deps.clock.now() };
  const { email, phone, cpf } = fields.value;
  if (email !== undefined && email !== row.email) Object.assign(patch, { email, email_verified_at: null });
  if (phone !== undefined && phone !== row.phone) Object.assign(patch, { phone, phone_verified_at: null });
  if (cpf !== undefined) patch.cpf = cpf;
  if (input.name !== undefined) patch.name = input.name;
  await updateIdentity(deps.store.db, row.id, patch);
  return getIdentity(deps, tenant, reference);
}
