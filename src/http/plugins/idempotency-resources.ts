import { IDEMPOTENT_RESOURCE } from '../../store/idempotency-repo.js';
import { replayedApproval } from '../../services/replayed-approval.js';
import { replayedInbox } from '../../services/inboxes.js';
import type { ServiceDeps } from '../../services/context.js';
import type { AdminDeps } from '../../services/integrations.js';
import { getVerification } from '../../services/manage-verification.js';
import { replayedIntegration, replayedKey } from '../../services/replayed-admin.js';
import { replayedTopUp } from '../../services/balance.js';
import { tenantOf } from './auth.js';
import { SHOWN_ONCE, type ResourcePresenter } from './idempotency.js';

/**
 * How a retry answers for the resources the integration API's operations record on their claim
 * (recordResource) when the first answer was lost with its process: the first answer's status, the
 * verification as GET /v1/verifications/{id} shows it now, the approval with its credentials shown
 * once (as every replay shows them).
 */
export function integrationResources(deps: ServiceDeps): Record<string, ResourcePresenter> {
  return {
    [IDEMPOTENT_RESOURCE.verification]: async (request, id) => {
      const found = await getVerification(deps, tenantOf(request), id);
      return found.ok ? { status: 201, body: found.value } : null;
    },
    [IDEMPOTENT_RESOURCE.session]: async (request, id) => {
      const approval = await replayedApproval(deps, tenantOf(request), id, SHOWN_ONCE);
      return approval ? { status: 200, body: approval } : null;
    },
    [IDEMPOTENT_RESOURCE.inbox]: async (request, id) => {
      const inbox = await replayedInbox(deps, tenantOf(request), id);
      return inbox ? { status: 201, body: inbox } : null;
    },
  };
}

/** The same for the operator API's creates: the integration or key as it is now, its secrets shown once. */
export function adminResources(deps: AdminDeps): Record<string, ResourcePresenter> {
  return {
    [IDEMPOTENT_RESOURCE.integration]: async (_request, id) => {
      const integration = await replayedIntegration(deps, id, SHOWN_ONCE);
      return integration ? { status: 201, body: integration } : null;
    },
    [IDEMPOTENT_RESOURCE.apiKey]: async (request, id) => {
      const key = await replayedKey(deps, (request.params as { id: string }).id, id, SHOWN_ONCE);
      return key ? { status: 201, body: key } : null;
    },
    [IDEMPOTENT_RESOURCE.topup]: async (_request, id) => {
      const entry = await replayedTopUp(deps.db, id);
      return entry ? { status: 201, body: entry } : null;
    },
  };
}
