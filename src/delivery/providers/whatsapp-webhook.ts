import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ProviderStatusUpdate } from './provider.js';

/**
 * Meta signs each webhook POST with the app secret: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 * The raw bytes must be the ones received (a re-serialised JSON would not match). False when the header is
 * missing or malformed, or no app secret is configured.
 */
export function verifyWhatsAppSignature(appSecret: string, rawBody: Buffer, header: string | undefined): boolean {
  if (!appSecret || typeof header !== 'string') return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1], 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The subscription handshake (`GET` on the callback URL): Meta sends `hub.mode=subscribe`, `hub.verify_token`
 * and `hub.challenge`; answering the challenge (as plain text) confirms the endpoint. Null, to be answered 403,
 * when the token does not match or no verify token is configured. Accepts the flat keys a query-string parser
 * gives (`{'hub.mode': …}`) and the nested form (`{hub: {mode: …}}`).
 */
export function whatsAppHandshake(query: Record<string, unknown>, verifyToken: string | null): string | null {
  if (!verifyToken || typeof query !== 'object' || query === null) return null;
  const nested = isRecord(query.hub) ? query.hub : {};
  const mode = query['hub.mode'] ?? nested.mode;
  const token = query['hub.verify_token'] ?? nested.verify_token;
  const challenge = query['hub.challenge'] ?? nested.challenge;
  if (mode !== 'subscribe' || typeof token !== 'string' || typeof challenge !== 'string' || challenge === '') return null;
  return safeEqual(token, verifyToken) ? challenge : null;
}

/** Compares two strings in time independent of where they differ (and, by hashing, of their lengths). */
function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a === b;
}

const STATUSES: Readonly<Record<string, ProviderStatusUpdate['status']>> = {
  sent: 'sent',
  delivered: 'delivered',
  read: 'delivered',
  failed: 'failed',
};

/**
 * The delivery receipts in a `messages` webhook (`entry[].changes[].value.statuses[]`), in otpgate's terms.
 * `read` counts as delivered; other statuses (`deleted`, `warning`…) and inbound messages are ignored.
 * Never throws: anything unreadable is skipped.
 */
export function parseWhatsAppStatuses(body: unknown): ProviderStatusUpdate[] {
  try {
    return readStatuses(body);
  } catch {
    return []; // a hostile object (a throwing getter): nothing to trust in it
  }
}

function readStatuses(body: unknown): ProviderStatusUpdate[] {
  const out: ProviderStatusUpdate[] = [];
  if (!isRecord(body) || body.object !== 'whatsapp_business_account' || !Array.isArray(body.entry)) return out;
  for (const entry of body.entry) {
    if (!isRecord(entry) || !Array.isArray(entry.changes)) continue;
    for (const change of entry.changes) {
      if (!isRecord(change) || change.field !== 'messages' || !isRecord(change.value)) continue;
      const statuses = change.value.statuses;
      if (!Array.isArray(statuses)) continue;
      for (const s of statuses) {
        const update = readStatus(s);
        if (update) out.push(update);
      }
    }
  }
  return out;
}

function readStatus(s: unknown): ProviderStatusUpdate | undefined {
  if (!isRecord(s) || typeof s.id !== 'string' || s.id === '' || typeof s.status !== 'string') return undefined;
  const status = Object.hasOwn(STATUSES, s.status) ? STATUSES[s.status] : undefined;
  if (!status) return undefined;
  const update: ProviderStatusUpdate = { providerMessageId: s.id, status };
  const seconds = typeof s.timestamp === 'string' && /^\d+$/.test(s.timestamp) ? Number(s.timestamp) : typeof s.timestamp === 'number' ? s.timestamp : NaN;
  if (Number.isFinite(seconds) && seconds > 0) update.at = seconds * 1000;
  if (status === 'failed' && Array.isArray(s.errors) && isRecord(s.errors[0])) {
    const e = s.errors[0];
    if (typeof e.code === 'number' || (typeof e.code === 'string' && e.code !== '')) update.errorCode = String(e.code);
    const title = typeof e.title === 'string' && e.title ? e.title : typeof e.message === 'string' && e.message ? e.message : undefined;
    const details = isRecord(e.error_data) && typeof e.error_data.details === 'string' && e.error_data.details ? e.error_data.details : undefined;
    const text = [title, details !== title ? details : undefined].filter(Boolean).join(': ');
    if (text) update.error = text;
  }
  return update;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
