import { fail, problem, type Result } from '../domain/errors.js';
import { isLapsed, isOpen, type InboxStatus } from '../domain/inbox.js';
import { findInbox, type InboxRow } from '../store/inboxes-repo.js';
import type { ServiceDeps, Tenant } from './context.js';
import { getInbox } from './inboxes.js';
import { inboxSettings } from './inbox-settings.js';
import type { InboxView } from './inbox-view.js';

/** The longest `?wait=` (seconds). */
export const MAX_INBOX_WAIT_S = 60;

/**
 * `GET /v1/sandbox/inboxes/{id}?wait=<s>[&after=<n>]`: answers as soon as the inbox holds more than
 * `after` codes (default: as many as it held when the request came in), is no longer open, or the
 * wait ends, whichever is first; then the inbox as a plain GET shows it.
 *
 * No code is missed between two calls: the answer carries `otp_count`, and a client that passes
 * the last `otp_count` it saw as `after` is answered at once for a code that landed in between (the
 * SDK's waitForCode does this). The waiter is registered before the state is read again, so a code
 * committed between that read and the wait still wakes it; waiting costs no query, only the reads
 * after each wake-up.
 */
export async function waitForInbox(
  deps: ServiceDeps,
  tenant: Tenant,
  id: string,
  options: { waitS: number; after?: number; signal?: AbortSignal },
): Promise<Result<InboxView>> {
  if (tenant.mode !== 'test' || options.waitS <= 0) return getInbox(deps, tenant, id);
  const first = await findInbox(deps.store.db, tenant, id);
  if (!first) return fail(problem('not-found', 'No inbox with this id.'));
  const baseline = options.after ?? first.otp_count;
  const { waiters, maxWaitMs } = inboxSettings(deps);
  const deadline = performance.now() + Math.min(options.waitS * 1000, MAX_INBOX_WAIT_S * 1000, maxWaitMs ?? Infinity);
  let row: InboxRow | undefined = first;
  while (row && !answerable(row, baseline, deps.clock.now())) {
    const remaining = deadline - performance.now();
    if (remaining <= 0 || options.signal?.aborted) break;
    const stop = new AbortController();
    const relay = (): void => stop.abort();
    options.signal?.addEventListener('abort', relay, { once: true });
    const woken = waiters.wait(id, remaining, stop.signal);
    // Read again with the waiter in place: a code committed since the last read is seen here, and
    // one committed after this read wakes the waiter.
    row = await findInbox(deps.store.db, tenant, id);
    if (row && answerable(row, baseline, deps.clock.now())) stop.abort();
    const end = await woken;
    options.signal?.removeEventListener('abort', relay);
    if (end !== 'woken') break;
    row = await findInbox(deps.store.db, tenant, id);
  }
  return getInbox(deps, tenant, id);
}

function answerable(row: InboxRow, baseline: number, now: number): boolean {
  const state = { status: row.status as InboxStatus, expires_at: row.expires_at };
  return row.otp_count > baseline || !isOpen(state.status) || isLapsed(state, now);
}
