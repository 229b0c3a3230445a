import type { Clock, Random } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { ChannelAdapter, DeliveryJob, SendOutcome } from '../delivery/channel.js';
import { landInInbox, prepareLanding, type InboxLookup } from '../services/inbox-landing.js';
import { captureMessage } from '../store/sandbox-messages-repo.js';
import type { Executor } from '../store/tables.js';
import { extractCode } from './extract-code.js';

/** What a test-mode send needs to land in a sandbox inbox as well. */
export interface SandboxInboxHook {
  /** Where the inbox is looked up before the worker's write: the store, or a batched look-up of it (Postgres). */
  db: InboxLookup;
  /** The sandbox domain: an email elsewhere is no inbox's, and is not looked up. */
  domain: string;
  /** An inbox regex's time budget (OTPGATE_SANDBOX_REGEX_TIMEOUT_MS). */
  regexTimeoutMs: number;
  /** Wakes the inbox's long-pollers (every process), after the commit. */
  announce(inboxId: string): void;
}

/**
 * Test mode's only channel: the message is captured in the store, never sent. A message to the
 * number or address of one of the integration's open sandbox inboxes lands in that inbox too, in
 * the same write (capture, inbox and `sandbox.message_received` commit with the worker's batch).
 */
export class SandboxChannel implements ChannelAdapter {
  readonly name = 'sandbox';

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly inboxes?: SandboxInboxHook,
  ) {}

  /** The capture is written with the worker's batch; a redelivery of the same outbox message is ignored. */
  async send(job: DeliveryJob): Promise<SendOutcome> {
    const message = {
      id: newId('msg', this.random),
      integration_id: job.integrationId,
      mode: job.mode,
      to_address: job.to,
      channel: job.channel,
      subject: job.subject,
      body: job.text,
      code: extractCode(job.text),
      verification_id: job.verificationId,
      source_id: job.sourceId,
      received_at: this.clock.now(),
    };
    const hook = this.inboxes;
    const capture = { ok: true, status: 'delivered', provider: 'sandbox', providerId: message.id, persist: (trx: Executor) => captureMessage(trx, message) } as const;
    if (!hook || (job.to.includes('@') && !job.to.toLowerCase().endsWith(`@${hook.domain}`))) return capture;
    // The inbox (and its regex's code) is looked up now, outside the batch's write transaction; the
    // write checks again that it is still open. A message to no inbox costs only this look-up (one
    // point read of a unique index; none for an email outside the sandbox domain).
    const deps = { clock: this.clock, random: this.random, regexTimeoutMs: hook.regexTimeoutMs };
    const landing = { to: job.to, from: job.brand ?? 'otpgate', subject: job.subject, text: job.text, channel: job.channel, sourceId: job.sourceId };
    const scope = { integrationId: job.integrationId, mode: job.mode };
    const prepared = await prepareLanding(hook.db, deps, landing, scope);
    if (prepared === null) return capture;
    let landed: string | null = null;
    return {
      ...capture,
      persist: async (trx) => {
        await captureMessage(trx, message);
        const inbox = await landInInbox(trx, deps, landing, scope, prepared);
        landed = inbox?.stored ? inbox.inboxId : null;
      },
      afterCommit: () => {
        if (landed !== null) hook.announce(landed);
      },
    };
  }
}
