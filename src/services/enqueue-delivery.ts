import type { Channel } from '../domain/policy.js';
import { enqueueMessage } from '../delivery/enqueue-message.js';
import type { RouteStep } from '../delivery/message-spec.js';
import type { DeliveryRow } from '../store/deliveries-repo.js';
import type { OutboxRow } from '../store/outbox-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { ServiceDeps, Tenant } from './context.js';

/**
 * Records a queued delivery and its outbox message inside the caller's transaction, so the message
 * exists exactly when the state change that asks for it is committed. The code is not copied: the
 * worker reads it, sealed, from the verification while it is pending.
 */
export async function enqueueDelivery(
  trx: QueryRunner,
  deps: ServiceDeps,
  tenant: Tenant,
  input: { verificationId: string; channel: Channel; to: string; locale: string | null; country: string | null; route: RouteStep[] },
): Promise<{ delivery: DeliveryRow; message: OutboxRow }> {
  const policy = tenant.policy;
  return enqueueMessage(trx, deps, {
    integrationId: tenant.integrationId,
    mode: tenant.mode,
    verificationId: input.verificationId,
    channel: input.channel,
    claim: deps.outbox?.claim() ?? null,
    spec: {
      to: input.to,
      locale: input.locale,
      country: input.country,
      ttl_s: policy.code.ttl_s,
      brand: tenant.name,
      app_domain: policy.delivery.app_domain,
      android_app_hash: policy.delivery.android_app_hash,
      fallback_after_s: policy.delivery.fallback_after_s,
      route: input.route,
    },
  });
}

/**
 * After the commit: a message enqueued already claimed goes to this process's worker in memory
 * (no claim query, no wait for a poll); any other wakes the workers.
 */
export function dispatch(deps: ServiceDeps, message: OutboxRow): void {
  if (message.locked_by !== null && deps.outbox) deps.outbox.handoff(message);
  else deps.notifyOutbox();
}
