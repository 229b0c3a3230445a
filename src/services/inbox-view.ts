import { toIso } from '../domain/clock.js';
import { effectiveInboxStatus, type InboxStatus } from '../domain/inbox.js';
import type { InboxMessageRow, InboxRow } from '../store/inboxes-repo.js';

/** An inbox as the API shows it (API.md "Sandbox"). */
export interface InboxView {
  id: string;
  kind: string;
  address: string;
  source: string;
  country: string | null;
  regex: string | null;
  status: InboxStatus;
  expires_at: string;
  /** The latest code, or null. */
  otp_code: string | null;
  /** How many codes arrived: pass it as `?after=` to wait for the next one. */
  otp_count: number;
  otps: { code: string; received_at: string }[];
  messages: { id: string; channel: string; from: string; subject: string | null; text: string; code: string | null; received_at: string }[];
  created_at: string;
  updated_at: string;
}

/** The summary a list and a create answer show: no messages. */
export type InboxSummary = Omit<InboxView, 'otps' | 'messages'>;

export function presentInboxSummary(row: InboxRow, now: number): InboxSummary {
  return {
    id: row.id,
    kind: row.kind,
    address: row.address,
    source: row.source,
    country: row.country,
    regex: row.regex,
    status: effectiveInboxStatus({ status: row.status as InboxStatus, expires_at: row.expires_at }, now),
    expires_at: toIso(row.expires_at),
    otp_code: row.last_code,
    otp_count: row.otp_count,
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

/** The whole inbox: codes oldest first, messages oldest first. */
export function presentInbox(row: InboxRow, messages: InboxMessageRow[], now: number): InboxView {
  return {
    ...presentInboxSummary(row, now),
    otps: messages.filter((m) => m.code !== null).map((m) => ({ code: m.code as string, received_at: toIso(m.received_at) })),
    messages: messages.map((m) => ({
      id: m.id,
      channel: m.channel,
      from: m.from_address,
      subject: m.subject,
      text: m.text,
      code: m.code,
      received_at: toIso(m.received_at),
    })),
  };
}
