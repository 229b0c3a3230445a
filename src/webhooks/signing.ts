import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const STANDARD_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of an endpoint secret, as the standardwebhooks library reads it. A `whsec_…` secret
 * (ours, or an integrator's in that form) is Standard Webhooks' base64 key; any other secret an
 * integrator chose is used as its raw UTF-8 bytes (the library's `format: "raw"`), which is what
 * `verifyWebhook` of the SDK does too.
 */
export function signingKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(keyOf(secret)); // a KeyObject: createHmac need not import the raw key each time
    if (keys.size >= KEYS_MAX) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/** Keys kept per secret (an endpoint signs every event with the same). */
const KEYS_MAX = 1_000;
const keys = new Map<string, KeyObject>();

function keyOf(secret: string): Buffer {
  if (STANDARD_SECRET.test(secret)) {
    try {
      new Webhook(secret); // the library's own check of the base64 (it throws where Buffer would decode leniently)
      return Buffer.from(secret.slice('whsec_'.length), 'base64');
    } catch {
      // not valid base64 after all: raw bytes below
    }
  }
  return Buffer.from(secret, 'utf8');
}

/**
 * One `v1,` signature: base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, what the standardwebhooks
 * library's `Webhook.sign` computes (tests verify every signature with the library). Computed with
 * node:crypto: the library's pure-JavaScript SHA-256 took about 20 µs per signature against 4 µs,
 * and every event is signed on each attempt.
 */
function sign(secret: string, id: string, timestampS: number, body: string): string {
  return `v1,${createHmac('sha256', signingKey(secret)).update(`${id}.${timestampS}.${body}`).digest('base64')}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers of one attempt: `webhook-id` is the event id (the same on every
 * retry), the timestamp is now, and the signature list carries one signature per secret given (the
 * current one first, then the one it replaced while that still signs).
 */
export function signHeaders(secrets: readonly string[], eventId: string, nowMs: number, body: string): SignedHeaders {
  const timestampS = Math.floor(nowMs / 1000);
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': secrets.map((secret) => sign(secret, eventId, timestampS, body)).join(' '),
  };
}

/** The body every event is sent as. */
export function eventBody(event: { id: string; type: string; created_at: string; data: unknown }): string {
  return JSON.stringify({ id: event.id, type: event.type, created_at: event.created_at, data: event.data });
}

/** The same body from an event as stored: its `data` already JSON text (not parsed to be written again). */
export function storedEventBody(event: { id: string; type: string; created_at: string; data_json: string }): string {
  return `{"id":${JSON.stringify(event.id)},"type":${JSON.stringify(event.type)},"created_at":${JSON.stringify(event.created_at)},"data":${event.data_json}}`;
}
