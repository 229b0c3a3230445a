import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { api } from '../helpers/runtime.js';
import { expectJson } from '../routes/support.js';

/** An inbox as `GET /v1/sandbox/inboxes/{id}` shows it. */
export interface InboxBody {
  id: string;
  kind: string;
  address: string;
  source: string;
  country: string | null;
  regex: string | null;
  status: string;
  expires_at: string;
  otp_code: string | null;
  otp_count: number;
  otps?: { code: string; received_at: string }[];
  messages?: { id: string; channel: string; from: string; subject: string | null; text: string; code: string | null; received_at: string }[];
  created_at: string;
  updated_at: string;
}

export async function createInbox(app: FastifyInstance, key: string, body: Record<string, unknown>): Promise<InboxBody> {
  const inbox = expectJson<InboxBody>(await api(app, key).post('/v1/sandbox/inboxes', body), 201);
  expect(inbox.id).toMatch(/^inb_/);
  return inbox;
}

export async function getInbox(app: FastifyInstance, key: string, id: string, query = ''): Promise<InboxBody> {
  return expectJson<InboxBody>(await api(app, key).get(`/v1/sandbox/inboxes/${id}${query}`), 200);
}

let sources = 0;
/** A message from outside, as the SMTP listener or the inbound SMS webhook hands it over. */
export function inbound(to: string, text: string, extra: { subject?: string | null; sourceId?: string; channel?: 'sms' | 'email' } = {}) {
  return {
    to,
    from: 'sender@example.com',
    subject: extra.subject ?? null,
    text,
    channel: extra.channel ?? (to.includes('@') ? ('email' as const) : ('sms' as const)),
    sourceId: extra.sourceId ?? `src-${++sources}`,
  };
}
