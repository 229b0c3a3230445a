import type { Clock, Random } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { ChannelAdapter, DeliveryJob, SendOutcome } from '../delivery/channel.js';
import { captureMessage } from '../store/sandbox-messages-repo.js';
import { extractCode } from './extract-code.js';

/** Test mode's only channel: the message is captured in the store, never sent. */
export class SandboxChannel implements ChannelAdapter {
  readonly name = 'sandbox';

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
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
    return { ok: true, status: 'delivered', provider: 'sandbox', providerId: message.id, persist: (trx) => captureMessage(trx, message) };
  }
}
