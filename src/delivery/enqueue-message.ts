import type { Clock, Random } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Channel } from '../domain/policy.js';
import { insertDelivery, type DeliveryRow } from '../store/deliveries-repo.js';
import { enqueue, type OutboxRow } from '../store/outbox-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import type { Mode } from '../store/tables.js';
import type { MessageSpec } from './message-spec.js';

export const MESSAGE_KIND = 'message';
/** A delayed check that falls back when a delivery got no receipt in time (policy.delivery.fallback_after_s). */
export const RECEIPT_TIMEOUT_KIND = 'receipt_timeout';

/** The outbox payload of a code message: the delivery row holds the rest. */
export interface MessagePayload {
  delivery_id: string;
  verification_id: string;
  channel: Channel;
}

export interface EnqueueMessageInput {
  integrationId: string;
  mode: Mode;
  verificationId: string;
  channel: Channel;
  spec: MessageSpec;
  /** Enqueue it already claimed by this process's worker (see OutboxWorker.claimForHandoff). */
  claim?: { workerId: string; until: number } | null;
}

/**
 * Records a queued delivery attempt and its outbox message inside the caller's transaction, so the
 * message exists exactly when the state change that asks for it is committed.
 */
export async function enqueueMessage(trx: QueryRunner, deps: { clock: Clock; random: Random }, input: EnqueueMessageInput): Promise<{ delivery: DeliveryRow; message: OutboxRow }> {
  const now = deps.clock.now();
  const delivery: DeliveryRow = {
    id: newId('dlv', deps.random),
    verification_id: input.verificationId,
    channel: input.channel,
    status: 'queued',
    error: null,
    created_at: now,
    updated_at: now,
    provider: null,
    provider_message_id: null,
    error_code: null,
    message_json: JSON.stringify(input.spec),
    sent_at: null,
    delivered_at: null,
    failed_at: null,
    fell_back_at: null,
  };
  await insertDelivery(trx, delivery);
  const payload: MessagePayload = { delivery_id: delivery.id, verification_id: input.verificationId, channel: input.channel };
  const message = await enqueue(trx, {
    id: newId('obx', deps.random),
    kind: MESSAGE_KIND,
    integration_id: input.integrationId,
    mode: input.mode,
    payload_json: JSON.stringify(payload),
    now,
    claim: input.claim ?? null,
  });
  return { delivery, message };
}

/** Schedules the no-receipt check of a delivery `afterS` seconds from now. */
export async function enqueueReceiptTimeout(trx: QueryRunner, deps: { clock: Clock; random: Random }, input: { integrationId: string; mode: Mode; deliveryId: string; afterS: number }): Promise<void> {
  const now = deps.clock.now();
  await enqueue(trx, {
    id: newId('obx', deps.random),
    kind: RECEIPT_TIMEOUT_KIND,
    integration_id: input.integrationId,
    mode: input.mode,
    payload_json: JSON.stringify({ delivery_id: input.deliveryId }),
    now,
    availableAt: now + input.afterS * 1000,
  });
}
