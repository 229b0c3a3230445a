import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeTwilio, FAKE_TWILIO_FRIENDLY_NAME, type FakeTwilio } from '../../../test/fakes/twilio.js';
import type { DeliveryJob, SendFailure, SendOutcome } from '../channel.js';
import { TwilioProvider, type TwilioConfig } from './twilio.js';

const FROM = '+15005550006';
const SERVICE = `MG${'0123456789abcdef'.repeat(2)}`;
const CALLBACK = 'https://otpgate.example.com/v1/providers/twilio/status';

function job(over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    sourceId: 'obx_1',
    deliveryId: 'dlv_1',
    integrationId: 'int_1',
    mode: 'live',
    verificationId: 'ver_1',
    channel: 'sms',
    to: '+14155550123',
    code: '482913',
    locale: 'en',
    subject: null,
    text: 'Your code is 482913',
    ...over,
  } as DeliveryJob;
}

function failed(outcome: SendOutcome): SendFailure {
  expect(outcome.ok).toBe(false);
  return outcome as SendFailure;
}

describe('TwilioProvider (against a fake Twilio over HTTP)', () => {
  let fake: FakeTwilio;
  let config: TwilioConfig;

  beforeEach(async () => {
    fake = await startFakeTwilio();
    config = { accountSid: fake.accountSid, authToken: fake.authToken, from: FROM, baseUrl: fake.baseUrl, statusCallbackUrl: CALLBACK };
  });
  afterEach(async () => {
    await fake.close();
  });

  it('is the sms provider named twilio', () => {
    const p = new TwilioProvider(config);
    expect(p.name).toBe('twilio');
    expect(p.channels).toEqual(['sms']);
  });

  it('sends the message form-encoded with Basic auth and returns the message SID', async () => {
    const outcome = await new TwilioProvider(config).send(job());
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(outcome).toEqual({ ok: true, status: 'sent', provider: 'twilio', providerId: expect.stringMatching(/^SM[0-9a-f]{32}$/) });
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);
    expect(req.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`);
    expect(req.form).toEqual({ To: '+14155550123', Body: 'Your code is 482913', From: FROM, StatusCallback: CALLBACK });
    // No idempotency header: Twilio documents none for Messages.
    expect(Object.keys(req.headers).filter((h) => /idempot/i.test(h))).toEqual([]);
  });

  it('sends through a Messaging Service when the sender is an MG… SID, and omits StatusCallback when not configured', async () => {
    const outcome = await new TwilioProvider({ ...config, from: SERVICE, statusCallbackUrl: null }).send(job());
    expect(outcome.ok).toBe(true);
    expect(fake.requests[0]!.form).toEqual({ To: '+14155550123', Body: 'Your code is 482913', MessagingServiceSid: SERVICE });
  });

  it("uses the integration's smsFrom override (a number or a Messaging Service SID) over the configured sender", async () => {
    const p = new TwilioProvider(config);
    await p.send(job({ overrides: { smsFrom: '+15005550001' } }));
    await p.send(job({ overrides: { smsFrom: SERVICE } }));
    expect(fake.requests[0]!.form.From).toBe('+15005550001');
    expect(fake.requests[0]!.form.MessagingServiceSid).toBeUndefined();
    expect(fake.requests[1]!.form.MessagingServiceSid).toBe(SERVICE);
    expect(fake.requests[1]!.form.From).toBeUndefined();
  });

  it('a sender that only looks like a service SID (wrong length) is sent as From', async () => {
    await new TwilioProvider({ ...config, from: 'MG1234' }).send(job());
    expect(fake.requests[0]!.form.From).toBe('MG1234');
    expect(fake.requests[0]!.form.MessagingServiceSid).toBeUndefined();
  });

  it('an invalid To (the fake validates as Twilio does) is a permanent failure with code 21211', async () => {
    const f = failed(await new TwilioProvider(config).send(job({ to: '12345' })));
    expect(f.retryable).toBe(false);
    expect(f.errorCode).toBe('21211');
    expect(f.provider).toBe('twilio');
    expect(f.error).toContain('HTTP 400');
    expect(f.error).toContain('is not a valid phone number');
    expect(f.retryAfterMs).toBeUndefined();
  });

  it('a scripted permanent error (21610, unsubscribed) is not retryable', async () => {
    fake.script({ kind: 'error', status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '21610' });
    expect(f.error).toContain('unsubscribed recipient');
  });

  it('the error text never carries the code or the auth token, even when Twilio echoes them', async () => {
    fake.script({ kind: 'error', status: 400, code: 21617, message: `Body "Your code is 482913" rejected for ${fake.authToken}` });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f.errorCode).toBe('21617');
    expect(f.error).not.toContain('482913');
    expect(f.error).not.toContain(fake.authToken);
    expect(f.error).toContain('[redacted]');
  });

  it('a wrong auth token is a permanent failure with code 20003', async () => {
    const f = failed(await new TwilioProvider({ ...config, authToken: 'wrong' }).send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '20003' });
    expect(f.error).toContain('HTTP 401');
  });

  it('500 is retryable', async () => {
    fake.script({ kind: 'server-error', status: 500 });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: '20500' });
    expect(f.error).toContain('HTTP 500');
  });

  it('503 is retryable with code 20503', async () => {
    fake.script({ kind: 'server-error', status: 503 });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: '20503' });
  });

  it('a 5xx without a JSON body (a proxy page) is retryable with http_<status>', async () => {
    fake.script({ kind: 'raw', status: 502, body: '<html><body>Bad Gateway</body></html>' });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: 'http_502' });
    expect(f.error).toBe('twilio: HTTP 502');
  });

  it('a 201 whose message already failed is a permanent failure with its error_code', async () => {
    const body = JSON.stringify({ sid: `SM${'a'.repeat(32)}`, status: 'failed', error_code: 30007, error_message: 'Message filtered' });
    fake.script({ kind: 'raw', status: 201, body, contentType: 'application/json' });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '30007' });
    expect(f.error).toContain('Message filtered');
  });

  it('429 with Retry-After: 3 is retryable after 3000 ms', async () => {
    fake.script({ kind: 'rate-limited', retryAfter: '3' });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: '20429', retryAfterMs: 3000 });
  });

  it('code 20429 is retryable even under another 4xx status', async () => {
    fake.script({ kind: 'error', status: 400, code: 20429, message: 'Too Many Requests' });
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: '20429' });
  });

  it('scripted behaviours apply one per call, then the default answers resume', async () => {
    fake.script({ kind: 'server-error' });
    const p = new TwilioProvider(config);
    expect((await p.send(job())).ok).toBe(false);
    expect((await p.send(job())).ok).toBe(true);
    expect(fake.requests).toHaveLength(2);
  });

  it('a hanging Twilio with a 150 ms timeout signal is a retryable timeout', async () => {
    fake.script({ kind: 'hang' });
    const started = Date.now();
    const f = failed(await new TwilioProvider(config).send(job(), AbortSignal.timeout(150)));
    expect(f).toMatchObject({ retryable: true, errorCode: 'timeout', provider: 'twilio' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fake.requests).toHaveLength(1);
  });

  it('a refused connection is a retryable network failure, not a throw', async () => {
    await fake.close();
    const f = failed(await new TwilioProvider(config).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: 'network' });
    fake = await startFakeTwilio(); // for afterEach
  });

  it('check() reads the account (GET, nothing sent) and reports its name and status', async () => {
    const result = await new TwilioProvider(config).check();
    expect(result).toEqual({ ok: true, detail: `account ${FAKE_TWILIO_FRIENDLY_NAME} (active)` });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.method).toBe('GET');
    expect(fake.requests[0]!.path).toBe(`/2010-04-01/Accounts/${fake.accountSid}.json`);
  });

  it('check() with a wrong token is not ok, says HTTP 401 and Twilio\'s message, and never shows a token', async () => {
    const result = await new TwilioProvider({ ...config, authToken: 'wrong-token' }).check();
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('HTTP 401');
    expect(result.detail).toContain('Authenticate');
    expect(result.detail).not.toContain('wrong-token');
    expect(result.detail).not.toContain(fake.authToken);
  });

  it('check() for a suspended account is not ok', async () => {
    const body = JSON.stringify({ sid: fake.accountSid, friendly_name: 'Acme', status: 'suspended' });
    fake.script({ kind: 'raw', status: 200, body, contentType: 'application/json' });
    expect(await new TwilioProvider(config).check()).toEqual({ ok: false, detail: 'account Acme (suspended)' });
  });

  it('check() times out on a hanging Twilio', async () => {
    fake.script({ kind: 'hang' });
    const result = await new TwilioProvider(config).check(AbortSignal.timeout(150));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timeout/);
  });
});

describe('the fake Twilio validates as Twilio does', () => {
  let fake: FakeTwilio;
  beforeEach(async () => {
    fake = await startFakeTwilio();
  });
  afterEach(async () => {
    await fake.close();
  });

  const post = (path: string, form: Record<string, string>) =>
    fetch(`${fake.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  it('another account in the path → 404 / 20404', async () => {
    const r = await post(`/2010-04-01/Accounts/AC${'f'.repeat(32)}/Messages.json`, { To: '+14155550123', From: FROM, Body: 'x' });
    expect(r).toMatchObject({ status: 404, body: { code: 20404, status: 404 } });
  });

  it('missing sender → 21603, missing Body → 21602, with the Twilio error shape', async () => {
    const path = `/2010-04-01/Accounts/${fake.accountSid}/Messages.json`;
    const noFrom = await post(path, { To: '+14155550123', Body: 'x' });
    expect(noFrom).toMatchObject({ status: 400, body: { code: 21603, more_info: 'https://www.twilio.com/docs/errors/21603' } });
    const noBody = await post(path, { To: '+14155550123', From: FROM });
    expect(noBody).toMatchObject({ status: 400, body: { code: 21602 } });
  });

  it('a message through a Messaging Service is accepted with from null', async () => {
    const r = await post(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`, { To: '+14155550123', MessagingServiceSid: SERVICE, Body: 'x' });
    expect(r).toMatchObject({ status: 201, body: { status: 'accepted', from: null, messaging_service_sid: SERVICE, account_sid: fake.accountSid } });
  });

  it('close() returns promptly with a hanging request in flight', async () => {
    fake.script({ kind: 'hang' });
    const pending = fetch(`${fake.baseUrl}/2010-04-01/Accounts/${fake.accountSid}.json`).catch((e: unknown) => e);
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await fake.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
    fake = await startFakeTwilio(); // for afterEach
  });
});
