import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from './verify-webhook.js';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const OLD = `whsec_${Buffer.alloc(32, 8).toString('base64')}`;
const body = JSON.stringify({ id: 'evt_1', type: 'verification.approved', created_at: '2026-01-01T00:00:00.000Z', data: { id: 'ver_1', status: 'approved' } });

function signed(secrets: Webhook[], at = new Date()): Record<string, string> {
  return {
    'webhook-id': 'evt_1',
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((s) => s.sign('evt_1', new Date(Math.floor(at.getTime() / 1000) * 1000), body)).join(' '),
  };
}

describe('verifyWebhook', () => {
  it('returns the typed event of a request signed with the secret', () => {
    const event = verifyWebhook(SECRET, signed([new Webhook(SECRET)]), body);
    expect(event.type).toBe('verification.approved');
    if (event.type === 'verification.approved') expect(event.data.status).toBe('approved');
    expect(event.id).toBe('evt_1');
  });

  it('takes Node headers (arrays included), fetch Headers and a raw Buffer body', () => {
    const h = signed([new Webhook(SECRET)]);
    expect(verifyWebhook(SECRET, new Headers(h), Buffer.from(body)).id).toBe('evt_1');
    expect(verifyWebhook(SECRET, { ...h, 'webhook-signature': [h['webhook-signature']!] }, new TextEncoder().encode(body)).id).toBe('evt_1');
  });

  it('accepts either secret during a rotation (two signatures in the header)', () => {
    const h = signed([new Webhook(SECRET), new Webhook(OLD)]);
    expect(verifyWebhook(SECRET, h, body).id).toBe('evt_1');
    expect(verifyWebhook(OLD, h, body).id).toBe('evt_1');
  });

  it("uses an integrator's own non-whsec secret as raw bytes, as the server signs with it", () => {
    const own = 'my-own-webhook-secret-0123456789';
    expect(verifyWebhook(own, signed([new Webhook(Buffer.from(own), { format: 'raw' })]), body).id).toBe('evt_1');
  });

  it('throws WebhookVerificationError on another secret, a changed body, a missing header or an old timestamp', () => {
    const h = signed([new Webhook(SECRET)]);
    expect(() => verifyWebhook(OLD, h, body)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(SECRET, h, body.replace('approved', 'failed'))).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(SECRET, { ...h, 'webhook-signature': undefined }, body)).toThrow(WebhookVerificationError);
    expect(() => verifyWebhook(SECRET, signed([new Webhook(SECRET)], new Date(Date.now() - 10 * 60_000)), body)).toThrow(WebhookVerificationError);
  });
});
