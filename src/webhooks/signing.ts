import { Webhook } from 'standardwebhooks';

const STANDARD_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/**
 * A signer for an endpoint secret. A `whsec_…` secret (ours, or an integrator's in that form) is
 * Standard Webhooks' base64 key; any other secret an integrator chose is used as its raw UTF-8
 * bytes (the library's `format: "raw"`), which is what `verifyWebhook` of the SDK does too.
 */
export function signerFor(secret: string): Webhook {
  let signer = signers.get(secret);
  if (!signer) {
    signer = newSigner(secret);
    if (signers.size >= SIGNERS_MAX) signers.clear();
    signers.set(secret, signer);
  }
  return signer;
}

/** Signers kept per secret (a Webhook decodes its key when built; an endpoint signs every event with the same). */
const SIGNERS_MAX = 1_000;
const signers = new Map<string, Webhook>();

function newSigner(secret: string): Webhook {
  if (STANDARD_SECRET.test(secret)) {
    try {
      return new Webhook(secret);
    } catch {
      // not valid base64 after all: raw bytes below
    }
  }
  return new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
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
  const at = new Date(Math.floor(nowMs / 1000) * 1000);
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => signerFor(secret).sign(eventId, at, body)).join(' '),
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
