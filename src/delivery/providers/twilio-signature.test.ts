import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { postTwilioStatus } from '../../../test/fakes/twilio.js';
import { twilioSignature, verifyTwilioSignature } from './twilio-signature.js';
import { parseTwilioStatus } from './twilio-status.js';

/*
 * Test vectors from Twilio's own SDK: twilio/twilio-node, spec/validation.spec.js
 * (commit 45d3d65a4ea87652f4c7973af0e0998f3af31322), "Request validation".
 */
const token = '12345';
const requestUrl = 'https://mycompany.com/myapp.php?foo=1&bar=2';
const defaultParams = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+14158675309',
  Digits: '1234',
  From: '+14158675309',
  To: '+18005551212',
};
const defaultSignature = 'RSOYDt4T1cUTdK1PDd93/VVr8B8=';

describe('twilioSignature (twilio-node vectors)', () => {
  it('signs the URL followed by the sorted parameters', () => {
    expect(twilioSignature(token, requestUrl, defaultParams)).toBe(defaultSignature);
  });

  it('does not depend on the order the parameters come in', () => {
    const reversed = Object.fromEntries(Object.entries(defaultParams).reverse());
    expect(twilioSignature(token, requestUrl, reversed)).toBe(defaultSignature);
  });

  it('signs a repeated parameter once per distinct value, values sorted', () => {
    // spec/validation.spec.js: "should validate request body with an array parameter" / "multiple params and values"
    expect(twilioSignature(token, requestUrl, { 'MessagingBinding.Address': ['+1325xxxxxxx', '+1415xxxxxxx'] })).toBe('83O6e2vORAoJHUNzJjDWN1jz+BA=');
    expect(twilioSignature(token, requestUrl, { 'MessagingBinding.Address': ['+1415xxxxxxx', '+1325xxxxxxx'] })).toBe('83O6e2vORAoJHUNzJjDWN1jz+BA=');
    expect(twilioSignature(token, requestUrl, { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] })).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
  });
});

describe('verifyTwilioSignature', () => {
  it("accepts twilio-node's vector", () => {
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, defaultSignature)).toBe(true);
  });

  it('rejects a tampered parameter, an added parameter, a removed one', () => {
    expect(verifyTwilioSignature(token, requestUrl, { ...defaultParams, Digits: '1235' }, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, { ...defaultParams, Extra: '' }, defaultSignature)).toBe(false);
    const { Digits: _digits, ...withoutDigits } = defaultParams;
    expect(verifyTwilioSignature(token, requestUrl, withoutDigits, defaultSignature)).toBe(false);
  });

  it('rejects another URL (path, query, host)', () => {
    expect(verifyTwilioSignature(token, 'https://mycompany.com/myapp.php?foo=1&bar=3', defaultParams, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature(token, 'https://mycompany.com/other.php?foo=1&bar=2', defaultParams, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature(token, 'https://evil.example/myapp.php?foo=1&bar=2', defaultParams, defaultSignature)).toBe(false);
  });

  it('rejects the wrong token', () => {
    expect(verifyTwilioSignature('54321', requestUrl, defaultParams, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature('', requestUrl, defaultParams, defaultSignature)).toBe(false);
  });

  it('rejects a missing, empty or malformed header, and never throws', () => {
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, undefined)).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, '')).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, 'WRONG_SIGNATURE')).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, defaultSignature.slice(0, -1))).toBe(false);
    expect(verifyTwilioSignature(token, 'not a url', defaultParams, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, { Digits: 1234 } as unknown as Record<string, string>, defaultSignature)).toBe(false);
    expect(verifyTwilioSignature(token, requestUrl, null as unknown as Record<string, string>, defaultSignature)).toBe(false);
  });

  // The URL variants twilio-node accepts (spec/validation.spec.js), with its signatures.
  it('accepts the URL with a non-standard port when Twilio signed it without (port stripped)', () => {
    expect(verifyTwilioSignature(token, requestUrl.replace('.com', '.com:1234'), defaultParams, defaultSignature)).toBe(true);
  });

  it('accepts an http URL with a port signed with that port', () => {
    const url = requestUrl.replace('.com', '.com:1234').replace('https', 'http');
    expect(verifyTwilioSignature(token, url, defaultParams, 'Zmvh+3yNM1Phv2jhDCwEM3q5ebU=')).toBe(true);
  });

  it('accepts a URL without a port when Twilio signed it with the standard one (443 / 80)', () => {
    expect(verifyTwilioSignature(token, requestUrl, defaultParams, 'kvajT1Ptam85bY51eRf/AJRuM3w=')).toBe(true);
    expect(verifyTwilioSignature(token, requestUrl.replace('https', 'http'), defaultParams, '0ZXoZLH/DfblKGATFgpif+LLRf4=')).toBe(true);
    // …but not the other scheme's standard port
    expect(verifyTwilioSignature(token, requestUrl.replace('https', 'http'), defaultParams, 'kvajT1Ptam85bY51eRf/AJRuM3w=')).toBe(false);
  });

  it('accepts URLs with credentials, with and without the standard port', () => {
    const withCreds = 'https://user:pass@mycompany.com/myapp.php?foo=1&bar=2';
    expect(verifyTwilioSignature(token, withCreds, defaultParams, 'CukzLTc1tT5dXEDIHm/tKBanW10=')).toBe(true);
    expect(verifyTwilioSignature(token, withCreds, defaultParams, 'ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=')).toBe(true);
    expect(verifyTwilioSignature(token, 'https://user@mycompany.com/myapp.php?foo=1&bar=2', defaultParams, '2YRLlVAflCqxaNicjMpJcSTgzSs=')).toBe(true);
  });

  it('accepts a query string with special characters (legacy query-string encoding)', () => {
    expect(verifyTwilioSignature(token, `${requestUrl}&Body=It's+amazing`, defaultParams, 'TfZzewPq8wqrGlMfyAud8+/IvJ0=')).toBe(true);
  });

  it('accepts the https URL with and without :443 either way round (spec/unit/webhooks/webhooks.spec.js)', () => {
    const withPort = 'https://example.com:443/path?test=param';
    const without = 'https://example.com/path?test=param';
    expect(verifyTwilioSignature('s3cr3t', without, {}, twilioSignature('s3cr3t', withPort, {}))).toBe(true);
    expect(verifyTwilioSignature('s3cr3t', withPort, {}, twilioSignature('s3cr3t', without, {}))).toBe(true);
    expect(verifyTwilioSignature('s3cr3t', 'https://example.com/path?test=param2', {}, twilioSignature('s3cr3t', without, {}))).toBe(false);
  });

  it('accepts a quote in the query escaped or not (spec/unit/webhooks/webhooks.spec.js)', () => {
    const raw = "https://example.com/path?test=param'WithQuote";
    const escaped = 'https://example.com/path?test=param%27WithQuote';
    expect(verifyTwilioSignature('s3cr3t', escaped, {}, twilioSignature('s3cr3t', raw, {}))).toBe(true);
    expect(verifyTwilioSignature('s3cr3t', raw, {}, twilioSignature('s3cr3t', escaped, {}))).toBe(true);
  });
});

describe('postTwilioStatus (the test helper)', () => {
  it('posts the form with a signature that verifies over the same URL and parameters', async () => {
    const received: { signature: string | undefined; form: Record<string, string>; contentType: string | undefined }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf-8')));
        received.push({ signature: req.headers['x-twilio-signature'] as string | undefined, form, contentType: req.headers['content-type'] });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/twilio/status?integration=int_1`;
      const params = { MessageSid: `SM${'a'.repeat(32)}`, MessageStatus: 'delivered', AccountSid: `AC${'b'.repeat(32)}`, Body: 'a+b & c' };
      const answer = await postTwilioStatus(url, 'tok', params);
      expect(answer).toEqual({ status: 204, body: '' });
      const got = received[0]!;
      expect(got.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(got.form).toEqual(params);
      expect(verifyTwilioSignature('tok', url, got.form, got.signature)).toBe(true);
      expect(verifyTwilioSignature('other', url, got.form, got.signature)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('parseTwilioStatus', () => {
  const sid = `SM${'0123456789abcdef'.repeat(2)}`;

  it('sent and delivered', () => {
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'sent' })).toEqual({ providerMessageId: sid, status: 'sent' });
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: 'delivered', AccountSid: 'AC1' })).toEqual({ providerMessageId: sid, status: 'delivered' });
  });

  it('undelivered and failed → failed, with the ErrorCode (and ErrorMessage when given)', () => {
    const undelivered = parseTwilioStatus({ MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30003' });
    expect(undelivered).toMatchObject({ providerMessageId: sid, status: 'failed', errorCode: '30003' });
    expect(undelivered?.error).toContain('undelivered');
    const failedOne = parseTwilioStatus({ MessageSid: sid, MessageStatus: 'failed', ErrorCode: '30008', ErrorMessage: 'Unknown error' });
    expect(failedOne).toMatchObject({ status: 'failed', errorCode: '30008' });
    expect(failedOne?.error).toContain('Unknown error');
    const noCode = parseTwilioStatus({ MessageSid: sid, MessageStatus: 'failed' });
    expect(noCode?.status).toBe('failed');
    expect(noCode && 'errorCode' in noCode).toBe(false);
  });

  it('intermediate and unknown states → null', () => {
    for (const status of ['queued', 'accepted', 'sending', 'scheduled', 'receiving', 'received', 'read', 'canceled', 'exploded', '']) {
      expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: status })).toBeNull();
    }
  });

  it('junk → null, never throws', () => {
    expect(parseTwilioStatus({})).toBeNull();
    expect(parseTwilioStatus({ MessageStatus: 'delivered' })).toBeNull();
    expect(parseTwilioStatus({ MessageSid: sid })).toBeNull();
    expect(parseTwilioStatus({ MessageSid: '', MessageStatus: 'delivered' })).toBeNull();
    expect(parseTwilioStatus({ MessageSid: 'SM 1; drop', MessageStatus: 'delivered' })).toBeNull();
    expect(parseTwilioStatus({ MessageSid: [sid], MessageStatus: 'delivered' })).toBeNull();
    expect(parseTwilioStatus({ MessageSid: sid, MessageStatus: { toString: () => 'delivered' } })).toBeNull();
    expect(parseTwilioStatus(null as unknown as Record<string, unknown>)).toBeNull();
    expect(parseTwilioStatus('MessageSid=SM1' as unknown as Record<string, unknown>)).toBeNull();
    const hostile = new Proxy({}, { get: () => { throw new Error('boom'); } });
    expect(parseTwilioStatus(hostile)).toBeNull();
  });
});
