/**
 * Verifies an otpgate webhook (Standard Webhooks signatures) in the integrator's receiver.
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { WebhookEvent } from './webhook-events.js';

export { WebhookVerificationError };

/** Request headers as Node (`req.headers`), Express, Fastify or fetch (`Headers`) give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

const STANDARD_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

function signer(secret: string): Webhook {
  if (STANDARD_SECRET.test(secret)) {
    try {
      return new Webhook(secret);
    } catch {
      // not base64 after all: raw bytes, as the server does
    }
  }
  return new Webhook(new TextEncoder().encode(secret), { format: 'raw' });
}

function header(headers: WebhookHeaders, name: string): string {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? '';
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/**
 * Checks a webhook request from otpgate and returns its event, typed by `type`. Throws
 * `WebhookVerificationError` when the signature does not match any of the listed ones (during a
 * secret rotation otpgate sends two), when a header is missing, or when the timestamp is more than
 * 5 minutes away from now (a replay).
 *
 * Pass the body exactly as received (the raw bytes, not re-serialised JSON). Deduplicate on
 * `event.id` (the `webhook-id` header): delivery is at least once.
 *
 * @param secret The secret `PATCH /v1/webhook` answered with: a `whsec_…` secret, or your own
 *   (16+ characters, used as its UTF-8 bytes).
 * @default the timestamp tolerance is Standard Webhooks' 5 minutes
 * @example
 * // Express: the raw body is needed
 * app.post('/hooks/otpgate', express.raw({ type: 'application/json' }), (req, res) => {
 *   let event: WebhookEvent;
 *   try {
 *     event = verifyWebhook(process.env.OTPGATE_WEBHOOK_SECRET!, req.headers, req.body);
 *   } catch {
 *     return res.status(400).end();
 *   }
 *   if (event.type === 'verification.approved') grantAccess(event.data.identifier);
 *   res.status(204).end();
 * });
 */
export function verifyWebhook(secret: string, headers: WebhookHeaders, rawBody: string | Uint8Array): WebhookEvent {
  const body = typeof rawBody === 'string' ? rawBody : new TextDecoder().decode(rawBody);
  const signed = {
    'webhook-id': header(headers, 'webhook-id'),
    'webhook-timestamp': header(headers, 'webhook-timestamp'),
    'webhook-signature': header(headers, 'webhook-signature'),
  };
  return signer(secret).verify(body, signed) as WebhookEvent;
}
