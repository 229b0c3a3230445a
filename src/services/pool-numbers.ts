import type { Clock } from '../domain/clock.js';
import { toIso } from '../domain/clock.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { deleteFreePoolNumber, findPoolNumber, insertPoolNumber, listPoolNumbers, type PoolNumberRow } from '../store/pool-numbers-repo.js';
import type { Db } from '../store/tables.js';

/**
 * The operator's pool of real numbers (`/admin/v1/sandbox/numbers`): phone inboxes with
 * `source: "pool"` rent one (inbound SMS to it lands in the inbox) and give it back at finish,
 * cancel or expiry. A rented number cannot be removed (409 invalid-state).
 */
export interface PoolNumberView {
  number: string;
  label: string | null;
  country: string | null;
  rented_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface PoolDeps {
  db: Db;
  clock: Clock;
}

function present(row: PoolNumberRow): PoolNumberView {
  return { number: row.number, label: row.label, country: row.country, rented_by: row.rented_by, created_at: toIso(row.created_at), updated_at: toIso(row.updated_at) };
}

function parsePhone(input: string): Result<{ number: string; country: string | null }> {
  const parsed = parseIdentifier(input);
  if (!parsed.ok || parsed.identifier.kind !== 'phone') return fail(validationProblem('The number must be a phone number in international form (+…).', { number: ['invalid_phone'] }));
  return ok({ number: parsed.identifier.value, country: parsed.identifier.country ?? null });
}

export async function addPoolNumber(deps: PoolDeps, input: { number: string; label?: string }): Promise<Result<PoolNumberView>> {
  const phone = parsePhone(input.number);
  if (!phone.ok) return phone;
  const now = deps.clock.now();
  const row: PoolNumberRow = { number: phone.value.number, label: input.label ?? null, country: phone.value.country, rented_by: null, created_at: now, updated_at: now };
  if (!(await insertPoolNumber(deps.db, row))) return fail(problem('conflict', 'This number is in the pool already.'));
  return ok(present(row));
}

export async function listPool(deps: PoolDeps): Promise<{ data: PoolNumberView[] }> {
  return { data: (await listPoolNumbers(deps.db)).map(present) };
}

export async function removePoolNumber(deps: PoolDeps, input: string): Promise<Result<void>> {
  const phone = parsePhone(input);
  if (!phone.ok) return phone;
  if (await deleteFreePoolNumber(deps.db, phone.value.number)) return ok(undefined);
  const row = await findPoolNumber(deps.db, phone.value.number);
  if (!row) return fail(problem('not-found', 'This number is not in the pool.'));
  return fail(problem('invalid-state', 'This number is rented by an open inbox; it can be removed once the inbox is finished, canceled or expired.', { rented_by: row.rented_by }));
}
