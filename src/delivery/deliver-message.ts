import { unseal } from '../domain/codes.js';
import type { Clock } from '../domain/clock.js';
import type { Channel } from '../domain/policy.js';
import type { OutboxRow } from '../store/outbox-repo.js';
import type { Db, Executor } from '../store/tables.js';
import { updateDelivery, verificationStatus } from '../store/verifications-repo.js';
import type { ChannelAdapter, ChannelRegistry, SendOutcome } from './channel.js';
import { renderCodeMessage } from './message-text.js';
import type { JobOutcome, OutboxHandler } from './outbox-worker.js';

export const MESSAGE_KIND = 'message';

/** What the outbox keeps for one code message; the code itself only sealed. */
export interface MessagePayload {
  delivery_id: string;
  verification_id: string;
  channel: Channel;
  to: string;
  code_sealed: string;
  locale: string | null;
  ttl_s: number;
  brand: string;
}

export interface DeliverMessageDeps {
  db: Db;
  clock: Clock;
  serverSecret: Buffer;
  sandbox: ChannelAdapter;
  live: ChannelRegistry;
  onSend?: (channel: Channel, mode: string, outcome: SendOutcome) => void;
}

/** The outbox handler for code messages: test mode → sandbox, live mode → the channel's provider. */
export function deliverMessageHandler(deps: DeliverMessageDeps): OutboxHandler {
  return async (row: OutboxRow): Promise<JobOutcome> => {
    const p = JSON.parse(row.payload_json) as MessagePayload;
    const status = await verificationStatus(deps.db, p.verification_id);
    const setDelivery = (status: string, error: string | null) => (trx: Executor) => updateDelivery(trx, p.delivery_id, status, error, deps.clock.now());
    if (status !== 'pending') {
      return { done: true, persist: setDelivery('failed', `verification is ${status ?? 'gone'}; not sent`) };
    }
    const adapter = row.mode === 'test' ? deps.sandbox : deps.live[p.channel];
    if (!adapter) {
      const error = `no provider is configured for ${p.channel}`;
      return { done: false, retryable: false, error, persist: setDelivery('failed', error) };
    }
    const code = unseal(deps.serverSecret, p.code_sealed);
    const message = renderCodeMessage({ code, ttlS: p.ttl_s, brand: p.brand, locale: p.locale, channel: p.channel });
    const outcome = await adapter.send({
      sourceId: row.id,
      integrationId: row.integration_id,
      mode: row.mode,
      verificationId: p.verification_id,
      channel: p.channel,
      to: p.to,
      code,
      subject: message.subject,
      text: message.text,
    });
    deps.onSend?.(p.channel, row.mode, outcome);
    if (outcome.ok) {
      const done = setDelivery(outcome.status, null);
      return { done: true, persist: async (trx) => (await outcome.persist?.(trx), done(trx)) };
    }
    return { done: false, retryable: outcome.retryable, error: outcome.error, persist: setDelivery(outcome.retryable ? 'queued' : 'failed', outcome.error) };
  };
}

/** Marks the delivery of a message that was given up as failed (inside the worker's batch transaction). */
export async function failDeadMessage(trx: Executor, clock: Clock, row: OutboxRow, error: string): Promise<void> {
  if (row.kind !== MESSAGE_KIND) return;
  const p = JSON.parse(row.payload_json) as MessagePayload;
  await updateDelivery(trx, p.delivery_id, 'failed', error, clock.now());
}
