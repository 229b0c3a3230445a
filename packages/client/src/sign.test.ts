import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signRequest } from './sign.js';

const secret = 'sk_test_secret';
const timestamp = 1_700_000_000;
const body = '{"identifier":"+5511987654321","action":"redemption"}';

describe('signRequest', () => {
  it('matches a known answer for a POST with a body (computed independently with openssl)', () => {
    const headers = signRequest({ secret, timestamp, method: 'POST', pathWithQuery: '/v1/verifications?x=1', body });
    expect(headers).toEqual({
      'X-Timestamp': '1700000000',
      'X-Signature': 'v1=3918dc51c59af0e5d571eaf310dde6033920b845e1913e4bd902e389b7801ce4',
    });
  });

  it('matches a known answer for a GET with no body (SHA-256 of the empty string)', () => {
    const headers = signRequest({ secret, timestamp, method: 'get', pathWithQuery: '/v1/sandbox/messages?to=%2B5511987654321&limit=1' });
    expect(headers['X-Signature']).toBe('v1=ef19e662463deeb0086574d5bd655333342c2fc5a195a02f49e282e0ef281a18');
  });

  it('equals the scheme of docs/api.md computed step by step with node:crypto', () => {
    const bodyHash = createHash('sha256').update(body, 'utf8').digest('hex');
    expect(bodyHash).toBe('3c676b78687167332ccfac54c8f34a4f143ed0328c4b8d6294af0f26fce2d02c');
    const canonical = ['1700000000', 'POST', '/v1/verifications?x=1', bodyHash].join('\n');
    const expected = 'v1=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(canonical, 'utf8').digest('hex');
    expect(signRequest({ secret, timestamp, method: 'POST', pathWithQuery: '/v1/verifications?x=1', body })['X-Signature']).toBe(expected);

    const emptyHash = createHash('sha256').update('').digest('hex');
    expect(emptyHash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const emptyCanonical = ['1700000000', 'DELETE', '/v1/webhook', emptyHash].join('\n');
    expect(signRequest({ secret, timestamp, method: 'DELETE', pathWithQuery: '/v1/webhook', body: '' })['X-Signature']).toBe(
      'v1=' + createHmac('sha256', secret).update(emptyCanonical).digest('hex'),
    );
  });

  it('hashes bytes and strings alike, and changes with every signed part', () => {
    const base = { secret, timestamp, method: 'POST', pathWithQuery: '/v1/verifications', body };
    const signature = signRequest(base)['X-Signature'];
    expect(signRequest({ ...base, body: new TextEncoder().encode(body) })['X-Signature']).toBe(signature);
    for (const change of [{ secret: 'other' }, { timestamp: timestamp + 1 }, { method: 'PATCH' }, { pathWithQuery: '/v1/verifications?a=1' }, { body: body + ' ' }]) {
      expect(signRequest({ ...base, ...change })['X-Signature']).not.toBe(signature);
    }
  });

  it('refuses a timestamp that is not whole seconds', () => {
    expect(() => signRequest({ secret, timestamp: 1.5, method: 'GET', pathWithQuery: '/' })).toThrow(TypeError);
  });
});
