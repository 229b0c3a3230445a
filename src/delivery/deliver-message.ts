import { unseal } from '../domain/codes.js';
import type { Channel } from '../domain/policy.js';
import { effectiveStatus } from '../domain/verification.js';
import { batchedDeliveriesForSend, loadDeliveryForSend, markFailed, markSent, noteRetry, type DeliveryForSend } from '../store/deliveries-repo.js';
import type { OutboxRow } from '../store/outbox-repo.js';
import type { Db, Executor, Mode } from '../store/tables.js';
import type { ChannelAdapter, SenderOverrides, SendOutcome } from './channel.js';
import { applyKeptReceipts, recordDelivered, recordFailure, type OutcomeDeps } from './delivery-outcomes.js';
import { enqueueReceiptTimeout, MESSAGE_KIND, type MessagePayload } from './enqueue-message.js';
import type { MessageSpec } from './message-spec.js';
import type { JobOutcome, OutboxHandler } from './outbox-worker.js';
import { renderCodeMessage, resolveLocale } from './templates.js';

export { MESSAGE_KIND };

/** What an operator set for an integration's messages (see the integration delivery settings). */
export interface DeliveryCustomisation {
  brand?: string;
  overrides?: SenderOverrides;
  /** Text overrides by channel, then locale (`{code}`, `{brand}`, `{minutes}`). */
  templates?: Partial<Record<Channel, Record<string, string>>>;
}

export interface DeliverMessageDeps extends OutcomeDeps {
  db: Db;
  serverSecret: Buffer;
  sandbox: ChannelAdapter;
  /** The live adapter for an integration's channel (its own credentials, else the deployment's), if any. */
  live: (integrationId: string, channel: Channel) => Promise<ChannelAdapter | undefined> | ChannelAdapter | undefined;
  customisation?: (integrationId: string) => Promise<DeliveryCustomisation | null>;
  onSend?: (channel: Channel, mode: Mode, outcome: SendOutcome) => void;
}

/** Outbox payloads written before deliveries kept their spec (kept readable for an upgrade with messages in flight). */
interface LegacyPayload extends MessagePayload {
  to?: string;
  code_sealed?: string;
  locale?: string | null;
  ttl_s?: number;
  brand?: string;
}

function legacySpec(p: LegacyPayload): MessageSpec {
  return { to: p.to ?? '', locale: p.locale ?? null, country: null, ttl_s: p.ttl_s ?? 300, brand: p.brand ?? 'otpgate', app_domain: null, android_app_hash: null, fallback_after_s: null, route: [] };
}

/**
 * The outbox handler for code messages: test mode → the sandbox, live mode → the channel's provider.
 * Success records the provider's message id (receipts find the delivery by it); a permanent failure,
 * or a transient one when another channel is left, fails this attempt and sends the same code on
 * the next channel of the route; a transient failure with no channel left is retried by the outbox.
 */
export function deliverMessageHandler(deps: DeliverMessageDeps): OutboxHandler {
  // On Postgres the messages of a batch, started together, read their deliveries in one query.
  const load = deps.postgres ? batchedDeliveriesForSend(deps.db) : (id: string) => loadDeliveryForSend(deps.db, id);
  return async (row: OutboxRow): Promise<JobOutcome> => {
    const p = JSON.parse(row.payload_json) as LegacyPayload;
    const d = await load(p.delivery_id);
    if (!d) return { done: true };
    const spec = d.message_json ? (JSON.parse(d.message_json) as MessageSpec) : legacySpec(p);
    const now = deps.clock.now();
    const status = effectiveStatus({ status: d.v_status, expires_at: d.v_expires_at }, now);
    const sealed = d.v_code_sealed ?? p.code_sealed ?? null;
    if (status !== 'pending' || sealed === null) {
      return { done: true, persist: (trx) => markFailed(trx, d.id, { provider: null, errorCode: 'not_pending', error: `verification is ${status}; not sent`, now }).then(() => {}) };
    }
    const channel = d.channel as Channel;
    const adapter = row.mode === 'test' ? deps.sandbox : await deps.live(row.integration_id, channel);
    const outcome: SendOutcome = adapter
      ? await send(deps, row, d, spec, adapter, unseal(deps.serverSecret, sealed))
      : { ok: false, retryable: false, errorCode: 'no_provider', error: `no provider is configured for ${channel}` };
    deps.onSend?.(channel, row.mode, outcome);
    if (outcome.ok) return { done: true, persist: (trx) => recordSent(trx, deps, d, spec, outcome), ...(outcome.afterCommit ? { afterCommit: outcome.afterCommit } : {}) };
    const failure = { provider: outcome.provider ?? null, errorCode: outcome.errorCode ?? null, error: outcome.error };
    if (outcome.retryable && spec.route.length === 0) {
      const retry: JobOutcome = { done: false, retryable: true, error: outcome.error, persist: (trx) => noteRetry(trx, d.id, { ...failure, now: deps.clock.now() }) };
      if (outcome.retryAfterMs !== undefined) retry.retryAfterMs = outcome.retryAfterMs;
      return retry;
    }
    return { done: true, persist: (trx) => recordFailure(trx, deps, d, spec, failure).then(() => {}) };
  };
}

async function send(deps: DeliverMessageDeps, row: OutboxRow, d: DeliveryForSend, spec: MessageSpec, adapter: ChannelAdapter, code: string): Promise<SendOutcome> {
  const channel = d.channel as Channel;
  const custom = deps.customisation ? await deps.customisation(row.integration_id) : null;
  const locale = resolveLocale(spec.locale, spec.country);
  const brand = custom?.brand ?? spec.brand;
  const message = renderCodeMessage({
    code,
    brand,
    ttlS: spec.ttl_s,
    locale,
    channel,
    appDomain: spec.app_domain,
    androidAppHash: spec.android_app_hash,
    override: custom?.templates?.[channel]?.[locale] ?? null,
  });
  return adapter.send({
    sourceId: row.id,
    deliveryId: d.id,
    integrationId: row.integration_id,
    mode: row.mode,
    verificationId: d.verification_id,
    channel,
    to: spec.to,
    code,
    locale,
    subject: message.subject,
    text: message.text,
    html: message.html,
    brand,
    ...(custom?.overrides ? { overrides: custom.overrides } : {}),
  });
}

async function recordSent(trx: Executor, deps: DeliverMessageDeps, d: DeliveryForSend, spec: MessageSpec, outcome: Extract<SendOutcome, { ok: true }>): Promise<void> {
  await outcome.persist?.(trx);
  const now = deps.clock.now();
  await markSent(trx, d.id, { status: outcome.status, provider: outcome.provider ?? null, providerMessageId: outcome.providerId ?? null, now });
  if (outcome.status === 'delivered') {
    await recordDelivered(trx, deps, d);
    return;
  }
  if (outcome.provider && outcome.providerId) await applyKeptReceipts(trx, deps, d, outcome.provider, outcome.providerId);
  if (spec.fallback_after_s !== null && spec.route.length > 0) {
    await enqueueReceiptTimeout(trx, deps, { integrationId: d.integration_id, mode: d.mode, deliveryId: d.id, afterS: spec.fallback_after_s });
  }
}

/** Marks the delivery of a message the outbox gave up on as failed, and announces it. */
export async function failDeadMessage(trx: Executor, deps: OutcomeDeps, row: OutboxRow, error: string): Promise<void> {
  if (row.kind !== MESSAGE_KIND) return;
  const p = JSON.parse(row.payload_json) as MessagePayload;
  const d = await loadDeliveryForSend(trx, p.delivery_id);
  if (!d) return;
  const spec = d.message_json ? (JSON.parse(d.message_json) as MessageSpec) : legacySpec(p);
  await recordFailure(trx, deps, d, { ...spec, route: [] }, { provider: d.provider, errorCode: d.error_code, error });
}
