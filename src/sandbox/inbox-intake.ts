import type { ServiceDeps } from '../services/context.js';
import { deliverToInbox, findOpenInboxAddress } from '../services/inbox-landing.js';

/**
 * The intake contract: where messages that reach otpgate from outside (the sandbox SMTP listener,
 * the inbound SMS webhook) enter sandbox inboxes. Test-mode sends take the same path through
 * `landInInbox` (services/inbox-landing.ts) inside the outbox worker's batch transaction.
 */
export interface InboundMessage {
  /** The inbox's address (email, any case) or number (E.164). */
  to: string;
  from: string;
  subject: string | null;
  text: string;
  channel: 'sms' | 'email';
  /** The sender's own id for this message (SMTP Message-ID + envelope, Twilio MessageSid): a redelivery with it is stored once. */
  sourceId: string;
}

/** Whether an open inbox (waiting or otp_received) has this address (email, case-insensitive) or number (E.164). */
export async function acceptsAddress(deps: ServiceDeps, address: string): Promise<boolean> {
  return (await findOpenInboxAddress(deps, address)) !== null;
}

/**
 * Lands a message in the open inbox at `to` (code extracted with the inbox's regex or the default),
 * records sandbox.message_received, wakes long-pollers; null when no open inbox has that address.
 * A redelivery with the same sourceId is stored once.
 */
export async function deliverInbound(deps: ServiceDeps, message: InboundMessage): Promise<{ inboxId: string } | null> {
  return deliverToInbox(deps, message);
}
