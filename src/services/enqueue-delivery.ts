import { newId } from '../domain/ids.js';
import type { Channel } from '../domain/policy.js';
import { MESSAGE_KIND, type MessagePayload } from '../delivery/deliver-message.js';
import { enqueue, type OutboxRow } from '../store/outbox-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import { insertDelivery, type DeliveryRow } from '../store/verifications-repo.js';
import type { ServiceDeps, Tenant } from './context.js';

/**
 * Records a queued delivery and its outbox message inside the caller's transaction, so the message
 * exists exactly when the state change that asks for it is committed.
 */
export async function enqueueDelivery(
  trx: QueryRunner,
  deps: ServiceDeps,
  tenant: Tenant,
  input: { verificationId: string; channel: Channel; to: string; codeSealed: string; locale: string | null },
): Promise<{ delivery: DeliveryRow; message: OutboxRow }> {
  const now = deps.clock.now();
  const delivery: DeliveryRow = {
    id: newId('dlv', deps.random),
    verification_id: input.verificationId,
    channel: input.channel,
    status: 'queued',
    error: null,
    created_at: now,
    updated_at: now,
  };
  await insertDelivery(trx, delivery);
  const payload: MessagePayload = {
    delivery_id: delivery.id,
    verification_id: input.verificationId,
    channel: input.channel,
    to: input.to,
    code_sealed: input.codeSealed, // the verification's own sealed copy: no second encryption
    locale: input.locale,
    ttl_s: tenant.policy.code.ttl_s,
    brand: tenant.name,
  };
  const message = await enqueue(trx, {
    id: newId('obx', deps.random),
    kind: MESSAGE_KIND,
    integration_id: tenant.integrationId,
    mode: tenant.mode,
    payload_json: JSON.stringify(payload),
    now,
    claim: deps.outbox?.claim() ?? null,
  });
  return { delivery, message };
}

/**
 * After the commit: a message enqueued already claimed goes to this process's worker in memory
 * (no claim query, no wait for a poll); any other wakes the workers.
 */
export function dispatch(deps: ServiceDeps, message: OutboxRow): void {
  if (message.locked_by !== null && deps.outbox) deps.outbox.handoff(message);
  else deps.notifyOutbox();
}
