import { chargeInboxRental } from '../billing/rental.js';
import { fail, ok, problem, ProblemError, validationProblem, type Result } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { applyInboxAction, isLapsed, type InboxAction, type InboxStatus } from '../domain/inbox.js';
import { FICTITIOUS_COUNTRIES, fictitiousNumber, sandboxEmail } from '../sandbox/inbox-addresses.js';
import { validatePattern } from '../sandbox/inbox-regex.js';
import { IDEMPOTENT_RESOURCE, recordResource, type IdempotencyClaim } from '../store/idempotency-repo.js';
import { findInbox, insertInbox, listInboxes, listInboxMessages, transitionInbox, type InboxRow } from '../store/inboxes-repo.js';
import { rentPoolNumber } from '../store/pool-numbers-repo.js';
import type { Executor } from '../store/tables.js';
import type { ServiceDeps, Tenant } from './context.js';
import { closeInbox } from './inbox-closing.js';
import { inboxSettings } from './inbox-settings.js';
import { MAX_INBOX_MESSAGES } from './inbox-landing.js';
import { presentInbox, presentInboxSummary, type InboxSummary, type InboxView } from './inbox-view.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

/**
 * Sandbox inboxes (API.md "Sandbox"): rent an address (a fictitious number, a real one from the
 * operator's pool, or an address at the sandbox domain), read what lands in it, and close it. Test
 * mode only. The state machine is domain/inbox.ts; messages land through services/inbox-landing.ts.
 */

export interface CreateInboxInput {
  kind: 'phone' | 'email';
  country?: string;
  regex?: string;
  source?: 'generated' | 'pool';
}

/** Default country of a generated phone inbox when none is asked for. */
export const DEFAULT_INBOX_COUNTRY = 'US';
const ADDRESS_ATTEMPTS = 8;

function testOnly(tenant: Tenant): Result<void> {
  return tenant.mode === 'test' ? ok(undefined) : fail(problem('test-mode-only', 'Sandbox inboxes are only available with a test key.'));
}

function validateCreate(input: CreateInboxInput, regexTimeoutMs: number): Result<{ country: string | null; source: 'generated' | 'pool' }> {
  const source = input.source ?? 'generated';
  const errors: Record<string, string[]> = {};
  if (input.kind === 'email' && input.country !== undefined) errors.country = ['not_for_email'];
  if (input.kind === 'email' && source === 'pool') errors.source = ['pool_is_for_phones'];
  if (input.country !== undefined && !/^[A-Za-z]{2}$/.test(input.country)) errors.country = ['invalid_country'];
  if (input.regex !== undefined) {
    const reason = validatePattern(input.regex, regexTimeoutMs);
    if (reason !== null) errors.regex = [reason];
  }
  if (Object.keys(errors).length > 0) return fail(validationProblem('The inbox request is not valid.', errors));
  const country = input.country?.toUpperCase() ?? (input.kind === 'phone' && source === 'generated' ? DEFAULT_INBOX_COUNTRY : null);
  if (input.kind === 'phone' && source === 'generated' && country !== null && !FICTITIOUS_COUNTRIES.includes(country)) {
    return fail(
      problem('unsupported-country', `The sandbox has no fictitious numbers for ${country}; it has them for ${FICTITIOUS_COUNTRIES.join(', ')}. Rent a real number from the pool with source "pool" instead.`, {
        supported_countries: FICTITIOUS_COUNTRIES,
      }),
    );
  }
  return ok({ country, source });
}

/**
 * Opens an inbox: the rental is charged (billing/rental.ts) in the same transaction; a refusal stores
 * nothing. With an Idempotency-Key claim the inbox is recorded on it in that transaction too, so a
 * retry after a lost answer (even a crash) gets this inbox, never a second one and a second charge.
 */
export async function createInbox(deps: ServiceDeps, tenant: Tenant, input: CreateInboxInput, claim?: IdempotencyClaim): Promise<Result<InboxSummary>> {
  const allowed = testOnly(tenant);
  if (!allowed.ok) return allowed;
  const settings = inboxSettings(deps);
  const valid = validateCreate(input, settings.regexTimeoutMs);
  if (!valid.ok) return valid;
  const { country, source } = valid.value;
  const now = deps.clock.now();
  const id = newId('inb', deps.random, now);
  try {
    const row = await deps.store.db.transaction().execute(async (trx) => {
      if (claim) await recordResource(trx, claim, IDEMPOTENT_RESOURCE.inbox, id);
      const charged = await chargeInboxRental(trx, deps, tenant, { inboxId: id, kind: input.kind, country });
      if (!charged.ok) throw new ProblemError(charged.problem);
      const base: Omit<InboxRow, 'address' | 'open_address' | 'pool_number'> = {
        id,
        integration_id: tenant.integrationId,
        mode: tenant.mode,
        kind: input.kind,
        source,
        country,
        regex: input.regex ?? null,
        status: 'waiting',
        expires_at: now + settings.ttlMs,
        otp_count: 0,
        last_code: null,
        created_at: now,
        updated_at: now,
      };
      if (source === 'pool') {
        const number = await rentPoolNumber(trx, id, input.country === undefined ? null : country, now, deps.store.dialect === 'postgres');
        const inbox = { ...base, address: number ?? '', open_address: number, pool_number: number };
        // A pool number is rented by one inbox at a time, so its address is free.
        if (number === null || !(await insertInbox(trx, inbox))) {
          throw new ProblemError(problem('no-number-available', `No number of the pool${input.country ? ` for ${country}` : ''} is free; try again when one is released.`));
        }
        return inbox;
      }
      return insertGenerated(trx, deps, base, input.kind, country, settings.domain);
    });
    return ok(presentInboxSummary(row, now));
  } catch (error) {
    if (error instanceof ProblemError) return fail(error.problem); // rolled back: nothing stored, nothing charged
    throw error;
  }
}

/** A fresh address no open inbox holds (a few tries: fictitious ranges are small). */
async function insertGenerated(
  trx: Executor,
  deps: ServiceDeps,
  base: Omit<InboxRow, 'address' | 'open_address' | 'pool_number'>,
  kind: 'phone' | 'email',
  country: string | null,
  domain: string,
): Promise<InboxRow> {
  for (let attempt = 0; attempt < ADDRESS_ATTEMPTS; attempt++) {
    const address = kind === 'email' ? sandboxEmail(domain, deps.random) : fictitiousNumber(country ?? DEFAULT_INBOX_COUNTRY, deps.random);
    if (address === null) break;
    const inbox = { ...base, address, open_address: address, pool_number: null };
    if (await insertInbox(trx, inbox)) return inbox;
  }
  throw new ProblemError(problem('no-number-available', `Every fictitious number of ${country ?? 'the range'} we tried is held by an open inbox; finish some, or try again.`));
}

/** Reads an inbox whole; an open inbox past its window is recorded as expired on the way (once, whoever notices first). */
export async function getInbox(deps: ServiceDeps, tenant: Tenant, id: string): Promise<Result<InboxView>> {
  const allowed = testOnly(tenant);
  if (!allowed.ok) return allowed;
  let row = await findInbox(deps.store.db, tenant, id);
  if (!row) return fail(problem('not-found', 'No inbox with this id.'));
  const now = deps.clock.now();
  if (isLapsed({ status: row.status as InboxStatus, expires_at: row.expires_at }, now)) row = (await closeInbox(deps, row, 'expired', now)) ?? row;
  return ok(presentInbox(row, await listInboxMessages(deps.store.db, row.id, MAX_INBOX_MESSAGES), now));
}

/** The inbox a replayed create answers with: as POST /v1/sandbox/inboxes showed it, as it is now. */
export async function replayedInbox(deps: ServiceDeps, tenant: Tenant, id: string): Promise<InboxSummary | null> {
  const row = await findInbox(deps.store.db, tenant, id);
  return row ? presentInboxSummary(row, deps.clock.now()) : null;
}

/** The integration's inboxes, newest first, without their messages. */
export async function listInboxSummaries(deps: ServiceDeps, tenant: Tenant, query: { limit: number; cursor?: string }): Promise<Result<Page<InboxSummary>>> {
  const allowed = testOnly(tenant);
  if (!allowed.ok) return allowed;
  const after = decodeCursor(query.cursor);
  if (after === 'invalid') return fail(problem('validation-error', 'The cursor is not valid.', { errors: { cursor: ['invalid'] } }));
  const rows = await listInboxes(deps.store.db, tenant, query.limit + 1, after ? { created_at: after.t, id: after.id } : null);
  const now = deps.clock.now();
  return ok(toPage(rows, query.limit, (r) => r.created_at, (r) => presentInboxSummary(r, now)));
}

/**
 * finish | cancel | reorder. The change is a conditional UPDATE on the state read; losing a race reads
 * again and decides on the new state. Closing frees the address and the pool number; reorder charges
 * nothing. An inbox found past its window is recorded as expired, then the action is refused.
 */
export async function actOnInbox(deps: ServiceDeps, tenant: Tenant, id: string, action: InboxAction): Promise<Result<InboxView>> {
  const allowed = testOnly(tenant);
  if (!allowed.ok) return allowed;
  const settings = inboxSettings(deps);
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = await findInbox(deps.store.db, tenant, id);
    if (!row) return fail(problem('not-found', 'No inbox with this id.'));
    const now = deps.clock.now();
    const state = { status: row.status as InboxStatus, expires_at: row.expires_at };
    if (isLapsed(state, now)) await closeInbox(deps, row, 'expired', now);
    const next = applyInboxAction(state, action, now, settings.ttlMs);
    if (!next.ok) return next;
    const changed =
      action === 'reorder'
        ? await reopen(deps, row, next.value.expires_at, now)
        : await closeInbox(deps, row, next.value.status as 'finished' | 'canceled', now);
    if (changed) return ok(presentInbox(changed, await listInboxMessages(deps.store.db, changed.id, MAX_INBOX_MESSAGES), now));
  }
  return fail(problem('conflict', 'The inbox kept changing; try again.'));
}

async function reopen(deps: ServiceDeps, row: InboxRow, expiresAt: number, now: number): Promise<InboxRow | undefined> {
  const changed = await transitionInbox(deps.store.db, row.id, row, { status: 'waiting', expires_at: expiresAt, open: true }, now);
  if (changed) inboxSettings(deps).announce(row.id);
  return changed;
}
