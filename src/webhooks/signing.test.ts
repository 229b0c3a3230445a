import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { eventBody, signHeaders, storedEventBody } from './signing.js';

const A = `whsec_${Buffer.alloc(24, 3).toString('base64')}`;
const B = `whsec_${Buffer.alloc(32, 4).toString('base64')}`;

describe('signHeaders', () => {
  const body = eventBody({ id: 'evt_1', type: 'verification.approved', created_at: '2026-01-01T00:00:00.000Z', data: { id: 'ver_1' } });

  it('signs per Standard Webhooks: webhook-id is the event id, the timestamp is in seconds', () => {
    const now = Date.now();
    const h = signHeaders([A], 'evt_1', now, body);
    expect(h['webhook-id']).toBe('evt_1');
    expect(h['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
    expect(new Webhook(A).verify(body, { ...h })).toEqual(JSON.parse(body));
  });

  it('lists one signature per secret, each verifiable on its own', () => {
    const h = signHeaders([B, A], 'evt_1', Date.now(), body);
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(A).verify(body, { ...h })).toBeTruthy();
    expect(new Webhook(B).verify(body, { ...h })).toBeTruthy();
  });

  it("uses a secret that is not whsec_ base64 as its raw bytes", () => {
    const own = 'whsec_not-base64!-but-long-enough';
    const h = signHeaders([own], 'evt_1', Date.now(), body);
    expect(new Webhook(Buffer.from(own), { format: 'raw' }).verify(body, { ...h })).toBeTruthy();
  });

  it("signs exactly as the library's Webhook.sign, for any secret form, id, time and body", () => {
    const secret = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => `whsec_${Buffer.from(bytes).toString('base64')}`),
      fc.string({ minLength: 16 }),
      fc.stringMatching(/^whsec_[A-Za-z0-9+/]{1,40}={0,2}$/),
    );
    fc.assert(
      fc.property(secret, fc.string(), fc.integer({ min: 0, max: 4_000_000_000 }), fc.string(), (s, id, seconds, text) => {
        const h = signHeaders([s], id, seconds * 1000 + 999, text);
        // The rule signHeaders documents: a whsec_ secret the library can decode is its base64 key; anything else, raw UTF-8.
        let library = new Webhook(Buffer.from(s, 'utf8'), { format: 'raw' });
        if (/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s)) {
          try {
            library = new Webhook(s);
          } catch {
            // not decodable: raw, as above
          }
        }
        expect(h['webhook-signature']).toBe(library.sign(id, new Date(seconds * 1000), text));
      }),
    );
  });

  it('writes the body as {id, type, created_at, data} in that order', () => {
    expect(Object.keys(JSON.parse(body))).toEqual(['id', 'type', 'created_at', 'data']);
  });

  it('writes an event as stored (data as JSON text) exactly as eventBody writes it parsed', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.jsonValue(), (id, type, data) => {
        const dataJson = JSON.stringify(data);
        const createdAt = '2026-01-01T00:00:00.000Z';
        expect(storedEventBody({ id, type, created_at: createdAt, data_json: dataJson })).toBe(eventBody({ id, type, created_at: createdAt, data: JSON.parse(dataJson) as unknown }));
      }),
    );
  });
});
