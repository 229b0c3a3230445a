import { toIso } from '../domain/clock.js';
import { fail, ok, problem, type Result } from '../domain/errors.js';
import { listMessages } from '../store/sandbox-messages-repo.js';
import type { ServiceDeps, Tenant } from './context.js';
import { parseIdentifierField } from './guards.js';
import { decodeCursor, toPage, type Page } from './pagination.js';

export interface SandboxMessageView {
  id: string;
  to: string;
  channel: string;
  subject: string | null;
  body: string;
  code: string | null;
  verification_id: string | null;
  received_at: string;
}

/** Test mode's captured messages, newest first, optionally for one recipient. */
export async function listSandboxMessages(
  deps: ServiceDeps,
  tenant: Tenant,
  query: { to?: string; limit: number; cursor?: string },
): Promise<Result<Page<SandboxMessageView>>> {
  if (tenant.mode !== 'test') return fail(problem('test-mode-only', 'The sandbox is only available with a test key.'));
  let to: string | null = null;
  if (query.to !== undefined) {
    const parsed = parseIdentifierField(query.to, 'to');
    if (!parsed.ok) return parsed;
    to = parsed.value.value;
  }
  const after = decodeCursor(query.cursor);
  if (after === 'invalid') return fail(problem('validation-error', 'The cursor is not valid.', { errors: { cursor: ['invalid'] } }));
  const rows = await listMessages(deps.store.db, tenant, to, query.limit + 1, after ? { received_at: after.t, id: after.id } : null);
  return ok(
    toPage(rows, query.limit, (m) => m.received_at, (m) => ({
      id: m.id,
      to: m.to_address,
      channel: m.channel,
      subject: m.subject,
      body: m.body,
      code: m.code,
      verification_id: m.verification_id,
      received_at: toIso(m.received_at),
    })),
  );
}
