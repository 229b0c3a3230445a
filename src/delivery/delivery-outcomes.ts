import type { WebhookHandoff } from '../webhooks/fan-out.js';
import { refundFailedSend } from '../billing/send-charge.js';
import type { Clock, Random } from '../domain/clock.js';
import type { Channel } from '../domain/policy.js';
import { effectiveStatus } from '../domain/verification.js';
import { presentDelivery } from '../services/present-verification.js';
import { recordVerificationEventById } from '../services/verification-events.js';
import { applyReceipt, claimFallback, lockProviderMessage, markFailed, takeReceipts, type DeliveryForSend, type KeptReceiptsHint } from '../store/deliveries-repo.js';
import type { OutboxRow } from '../store/outbox-repo.js';
import type { Executor } from '../store/tables.js';
import { enqueueMessage } from './enqueue-message.js';
import type { MessageSpec } from './message-spec.js';
import type { ProviderStatusUpdate } from './providers/provider.js';

/** Counters the delivery path reports to (prom-client in the server, nothing in unit tests). */
export interface DeliveryObserver {
  fallback(from: Channel, to: Channel, reason: string): void;
}

export interface OutcomeDeps {
  clock: Clock;
  random: Random;
  observer?: DeliveryObserver;
  /** The store is Postgres (receipts and sends then take an advisory lock per provider message). */
  postgres?: boolean;
  /** Whether a receipt may be kept for a send not recorded yet (absent: look every time). */
  keptReceipts?: KeptReceiptsHint;
  /** This process's webhook dispatcher, taking the delivery events' webhooks from their transactions (embedded store). */
  webhookHandoff?: WebhookHandoff | undefined;
}

/**
 * Records a delivery event in the caller's transaction: `data` is the verification as
 * `GET /v1/verifications/{id}` shows it (read in the transaction, after the change), plus `delivery`,
 * the attempt that changed as the API shows it, and `next_channel`, the channel tried next (or null).
 * Never the code or the message text.
 */
async function event(trx: Executor, deps: OutcomeDeps, d: DeliveryForSend, type: 'verification.delivered' | 'verification.delivery_failed', next: Channel | null): Promise<void> {
  await recordVerificationEventById(trx, deps, type, d.verification_id, deps.clock.now(), (deliveries) => {
    const attempt = deliveries.find((row) => row.id === d.id);
    return { delivery: attempt ? presentDelivery(attempt) : null, next_channel: next };
  });
}

/**
 * Tries the next channel of the route with the same code, once per attempt whatever asked for it (a
 * provider error, a failed receipt, silence), and only while the verification is still pending.
 * Returns the new outbox message, or null when nothing was enqueued.
 */
export async function fallBack(trx: Executor, deps: OutcomeDeps, d: DeliveryForSend, spec: MessageSpec, reason: string): Promise<OutboxRow | null> {
  const next = spec.route[0];
  if (!next) return null;
  const now = deps.clock.now();
  const v = await trx.selectFrom('verifications').select(['status', 'expires_at']).where('id', '=', d.verification_id).executeTakeFirst();
  if (!v || effectiveStatus(v, now) !== 'pending') return null;
  if (!(await claimFallback(trx, d.id, now))) return null;
  const { message } = await enqueueMessage(trx, deps, {
    integrationId: d.integration_id,
    mode: d.mode,
    verificationId: d.verification_id,
    channel: next.channel,
    spec: { ...spec, to: next.to, route: spec.route.slice(1) },
  });
  deps.observer?.fallback(d.channel as Channel, next.channel, reason);
  return message;
}

/** A failed attempt: recorded, announced (`verification.delivery_failed`), and the next channel tried. */
export async function recordFailure(
  trx: Executor,
  deps: OutcomeDeps,
  d: DeliveryForSend,
  spec: MessageSpec,
  failure: { provider: string | null; errorCode: string | null; error: string; at?: number },
): Promise<OutboxRow | null> {
  const now = deps.clock.now();
  const changed = await markFailed(trx, d.id, { provider: failure.provider, errorCode: failure.errorCode, error: failure.error, now: failure.at ?? now });
  if (!changed) return null;
  const willFallBack = spec.route[0]?.channel ?? null;
  await event(trx, deps, d, 'verification.delivery_failed', willFallBack);
  // The last channel failed: every channel did. A charged send is refunded once (billing/send-charge.ts).
  if (willFallBack === null) await refundFailedSend(trx, deps, { integrationId: d.integration_id, mode: d.mode, verificationId: d.verification_id });
  return fallBack(trx, deps, d, spec, failure.errorCode ?? 'error');
}

/** Announces a delivery that reached the recipient. */
export async function recordDelivered(trx: Executor, deps: OutcomeDeps, d: DeliveryForSend): Promise<void> {
  await event(trx, deps, d, 'verification.delivered', null);
}

/**
 * Applies a provider's receipt to its delivery, forwards only (queued → sent → delivered | failed;
 * a late `sent` after `delivered` changes nothing). A failed receipt falls back.
 */
export async function applyStatusUpdate(trx: Executor, deps: OutcomeDeps, d: DeliveryForSend, update: ProviderStatusUpdate): Promise<OutboxRow | null> {
  const now = deps.clock.now();
  const at = update.at ?? now;
  const spec = d.message_json ? (JSON.parse(d.message_json) as MessageSpec) : null;
  if (update.status === 'failed') {
    const error = update.error ?? 'the provider reported the message as failed';
    if (!spec) {
      await markFailed(trx, d.id, { provider: d.provider, errorCode: update.errorCode ?? null, error, now: at });
      return null;
    }
    return recordFailure(trx, deps, d, spec, { provider: d.provider, errorCode: update.errorCode ?? null, error, at });
  }
  const changed = await applyReceipt(trx, d.id, { status: update.status, errorCode: null, error: null, at, now });
  if (changed && update.status === 'delivered') await recordDelivered(trx, deps, d);
  return null;
}

/** Receipts that arrived before the send was recorded, applied now that it is. */
export async function applyKeptReceipts(trx: Executor, deps: OutcomeDeps, d: DeliveryForSend, provider: string, providerMessageId: string): Promise<OutboxRow[]> {
  const enqueued: OutboxRow[] = [];
  if (deps.keptReceipts?.maybe === false) return enqueued;
  await lockProviderMessage(trx, provider, providerMessageId, deps.postgres ?? false);
  const recorded = { ...d, provider, provider_message_id: providerMessageId, status: 'sent' };
  for (const r of await takeReceipts(trx, provider, providerMessageId)) {
    const update: ProviderStatusUpdate = { providerMessageId, status: r.status as ProviderStatusUpdate['status'], at: r.received_at };
    if (r.error_code) update.errorCode = r.error_code;
    if (r.error) update.error = r.error;
    const message = await applyStatusUpdate(trx, deps, recorded, update);
    if (message) enqueued.push(message);
  }
  return enqueued;
}
