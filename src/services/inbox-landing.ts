import { toIso, type Clock, type Random } from '../domain/clock.js';
import { parseIdentifier } from '../domain/identifiers.js';
import { newId } from '../domain/ids.js';
import { receiveInInbox, type InboxStatus } from '../domain/inbox.js';
import { extractCode } from '../sandbox/extract-code.js';
import { extractWithPattern } from '../sandbox/inbox-regex.js';
import { countInboxMessages, findOpenInbox, insertInboxMessage, recordInboxCode, type InboxRow } from '../store/inboxes-repo.js';
import type { Executor } from '../store/tables.js';
import type { Scope } from '../store/verifications-repo.js';
import type { ServiceDeps } from './context.js';
import { inboxSettings } from './inbox-settings.js';
import { recordEvent } from './record-event.js';

/**
 * Landing a message in a sandbox inbox: one path for test-mode sends (the sandbox channel, in the
 * outbox worker's batch transaction) and for messages from outside (the SMTP listener, inbound SMS:
 * sandbox/inbox-intake.ts). The message row, the inbox's new state and `sandbox.message_received`
 * are written in the caller's transaction; long-pollers are woken after its commit.
 */
export interface LandingMessage {
  to: string;
  from: string;
  subject: string | null;
  text: string;
  channel: string; // sms | email | whatsapp
  sourceId: string;
}

export interface LandingDeps {
  clock: Clock;
  random: Random;
  regexTimeoutMs: number;
}

/** Messages one inbox keeps; later ones are dropped (a flood cannot grow an inbox without bound). */
export const MAX_INBOX_MESSAGES = 200;
const MAX_TEXT = 32_768;
const MAX_SUBJECT = 998;
const MAX_FROM = 320;

/** The form addresses are stored and looked up in: emails lower-cased, phones in E.164; null for neither. */
export function normalizeInboxAddress(address: string): string | null {
  const text = address.trim();
  if (text.includes('@')) return text.length <= 320 ? text.toLowerCase() : null;
  const parsed = parseIdentifier(text);
  return parsed.ok && parsed.identifier.kind === 'phone' ? parsed.identifier.value : null;
}

/** The inbox a message is for and the code found in it, worked out before the write (prepareLanding). */
export interface PreparedLanding {
  inboxId: string;
  code: string | null;
}

function codeIn(inbox: InboxRow, text: string, regexTimeoutMs: number): string | null {
  return inbox.regex === null ? extractCode(text) : extractWithPattern(inbox.regex, text, regexTimeoutMs).code;
}

/** How the open inbox at an address is found: a store to read, or a look-up of its own (batchedOpenInboxes). */
export type InboxLookup = Executor | ((address: string) => Promise<InboxRow | undefined>);

async function openInboxFor(db: InboxLookup, message: LandingMessage, scope?: Scope): Promise<InboxRow | null> {
  const address = normalizeInboxAddress(message.to);
  if (address === null) return null;
  const inbox = typeof db === 'function' ? await db(address) : await findOpenInbox(db, address);
  if (!inbox || (scope && (inbox.integration_id !== scope.integrationId || inbox.mode !== scope.mode))) return null;
  return inbox;
}

/**
 * Before any write transaction: the open inbox the message is for and the code in it. An inbox's
 * own regex runs here, so a slow pattern (up to its budget) never holds the store's write lock (on
 * SQLite, every writer's). Null: no open inbox of `scope` has that address, nothing to land.
 */
export async function prepareLanding(db: InboxLookup, deps: LandingDeps, message: LandingMessage, scope?: Scope): Promise<PreparedLanding | null> {
  const inbox = await openInboxFor(db, message, scope);
  return inbox ? { inboxId: inbox.id, code: codeIn(inbox, message.text.slice(0, MAX_TEXT), deps.regexTimeoutMs) } : null;
}

/**
 * Stores a message in the open inbox at `message.to` (only an inbox of `scope`, when given: a
 * test-mode send reaches its own integration's inboxes), with the code `prepared` found for that
 * inbox (else found here). Returns the inbox and whether the message is new (false: a redelivery
 * of a source already stored), or null when no open inbox takes it.
 */
export async function landInInbox(
  trx: Executor,
  deps: LandingDeps,
  message: LandingMessage,
  scope?: Scope,
  prepared?: PreparedLanding,
): Promise<{ inboxId: string; stored: boolean } | null> {
  const inbox = await openInboxFor(trx, message, scope);
  if (!inbox) return null;
  const now = deps.clock.now();
  const text = message.text.slice(0, MAX_TEXT);
  const code = prepared?.inboxId === inbox.id ? prepared.code : codeIn(inbox, text, deps.regexTimeoutMs);
  if (receiveInInbox({ status: inbox.status as InboxStatus, expires_at: inbox.expires_at }, code !== null, now) === null) return null;
  const seq = await countInboxMessages(trx, inbox.id);
  if (seq >= MAX_INBOX_MESSAGES) return { inboxId: inbox.id, stored: false };
  const messageId = newId('msg', deps.random, now);
  const stored = await insertInboxMessage(trx, {
    id: messageId,
    inbox_id: inbox.id,
    seq,
    channel: message.channel,
    from_address: message.from.slice(0, MAX_FROM),
    subject: message.subject === null ? null : message.subject.slice(0, MAX_SUBJECT),
    text,
    code,
    source_id: message.sourceId,
    received_at: now,
  });
  if (!stored) return { inboxId: inbox.id, stored: false };
  const after: InboxRow = (code === null ? inbox : await recordInboxCode(trx, inbox.id, code, now)) ?? inbox;
  // The inbox id and its latest code, never the message's text or subject (API.md "Webhooks").
  await recordEvent(
    trx,
    deps,
    { integrationId: inbox.integration_id, mode: inbox.mode },
    'sandbox.message_received',
    {
      inbox_id: inbox.id,
      kind: inbox.kind,
      address: inbox.address,
      status: after.status,
      otp_code: after.last_code,
      otp_count: after.otp_count,
      message: { id: messageId, channel: message.channel, has_code: code !== null, received_at: toIso(now) },
    },
    now,
  );
  return { inboxId: inbox.id, stored: true };
}

/** The open inbox at an address, unless its window has ended. */
export async function findOpenInboxAddress(deps: Pick<ServiceDeps, 'store' | 'clock'>, address: string): Promise<InboxRow | null> {
  const normalized = normalizeInboxAddress(address);
  if (normalized === null) return null;
  const inbox = await findOpenInbox(deps.store.db, normalized);
  return inbox && inbox.expires_at > deps.clock.now() ? inbox : null;
}

/** Lands a message from outside in its own transaction, then wakes long-pollers (sandbox/inbox-intake.ts). */
export async function deliverToInbox(deps: ServiceDeps, message: LandingMessage): Promise<{ inboxId: string } | null> {
  const settings = inboxSettings(deps);
  const landing = { clock: deps.clock, random: deps.random, regexTimeoutMs: settings.regexTimeoutMs };
  const prepared = await prepareLanding(deps.store.db, landing, message);
  if (prepared === null) return null;
  const landed = await deps.store.db.transaction().execute((trx) => landInInbox(trx, landing, message, undefined, prepared));
  if (landed === null) return null;
  if (landed.stored) settings.announce(landed.inboxId);
  return { inboxId: landed.inboxId };
}
