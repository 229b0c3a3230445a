import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeWhatsApp, whatsAppBehaviours as b, type FakeWhatsApp } from '../../../test/fakes/whatsapp.js';
import type { DeliveryJob, SendOutcome } from '../channel.js';
import { WhatsAppProvider, whatsAppLanguage, type WhatsAppConfig } from './whatsapp.js';

let fake: FakeWhatsApp;

beforeEach(async () => {
  fake = await startFakeWhatsApp({ templates: ['otp_code', 'otp_code_acme'] });
});
afterEach(async () => fake.close());

function provider(over: Partial<WhatsAppConfig> = {}): WhatsAppProvider {
  return new WhatsAppProvider({ token: fake.token, phoneNumberId: fake.phoneNumberId, template: 'otp_code', baseUrl: fake.baseUrl, ...over });
}

function job(over: Partial<DeliveryJob> = {}): DeliveryJob {
  return {
    sourceId: 'obx_1',
    deliveryId: 'dlv_1',
    integrationId: 'int_1',
    mode: 'live',
    verificationId: 'ver_1',
    channel: 'whatsapp',
    to: '+5511987654321',
    code: '482913',
    locale: 'pt-BR',
    subject: null,
    text: '482913 é o seu código',
    ...over,
  };
}

/** The failure branch, or the test fails. */
function failure(outcome: SendOutcome) {
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('WhatsAppProvider.send', () => {
  it('posts the authentication template with the code to /{phone number id}/messages and returns the wamid', async () => {
    const outcome = await provider().send(job());

    expect(fake.sent).toHaveLength(1);
    expect(outcome).toEqual({ ok: true, status: 'sent', provider: 'whatsapp', providerId: fake.sent[0] });
    expect(fake.sent[0]).toMatch(/^wamid\./);

    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/v21.0/${fake.phoneNumberId}/messages`);
    expect(req.headers.authorization).toBe(`Bearer ${fake.token}`);
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    expect(req.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+5511987654321',
      type: 'template',
      template: {
        name: 'otp_code',
        language: { code: 'pt_BR' },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: '482913' }] },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '482913' }] },
        ],
      },
    });
  });

  it('tolerates a trailing slash on the base URL', async () => {
    const outcome = await provider({ baseUrl: `${fake.baseUrl}/` }).send(job());
    expect(outcome.ok).toBe(true);
    expect(fake.requests[0]!.path).toBe(`/v21.0/${fake.phoneNumberId}/messages`);
  });

  it('takes the language from the locale, then the configured language, then the integration override', async () => {
    const lang = () => (fake.requests.at(-1)!.body as { template: { language: { code: string } } }).template.language.code;

    await provider().send(job({ locale: 'en' }));
    expect(lang()).toBe('en');
    await provider().send(job({ locale: 'hi' }));
    expect(lang()).toBe('hi');
    await provider({ language: 'en_US' }).send(job({ locale: 'pt-BR' }));
    expect(lang()).toBe('en_US');
    await provider({ language: 'en_US' }).send(job({ overrides: { whatsappLanguage: 'es_MX' } }));
    expect(lang()).toBe('es_MX');
    await provider({ language: null }).send(job({ locale: 'es' }));
    expect(lang()).toBe('es');
  });

  it('maps BCP 47 locales to template language codes', () => {
    expect(whatsAppLanguage('en')).toBe('en');
    expect(whatsAppLanguage('pt-BR')).toBe('pt_BR');
    expect(whatsAppLanguage('es')).toBe('es');
    expect(whatsAppLanguage('id')).toBe('id');
    expect(whatsAppLanguage('hi')).toBe('hi');
    expect(whatsAppLanguage('zh-Hant-HK')).toBe('zh_Hant_HK');
  });

  it("uses the integration's template override", async () => {
    const outcome = await provider().send(job({ overrides: { whatsappTemplate: 'otp_code_acme' } }));
    expect(outcome.ok).toBe(true);
    expect((fake.requests[0]!.body as { template: { name: string } }).template.name).toBe('otp_code_acme');
  });

  it('a template Meta does not know is a permanent failure with code 132001', async () => {
    const f = failure(await provider({ template: 'no_such_template' }).send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '132001', provider: 'whatsapp' });
    expect(f.error).toContain('Template name does not exist');
  });

  it('a permanent error (131026 undeliverable) is not retryable, carries the code and Meta’s text, never the OTP or token', async () => {
    fake.script(b.undeliverable());
    const f = failure(await provider().send(job()));
    expect(f.retryable).toBe(false);
    expect(f.errorCode).toBe('131026');
    expect(f.provider).toBe('whatsapp');
    expect(f.error).toContain('HTTP 400');
    expect(f.error).toContain('Message undeliverable');
    expect(f.retryAfterMs).toBeUndefined();
    expect(f.error).not.toContain('482913');
    expect(f.error).not.toContain(fake.token);
  });

  it('scrubs the code and the token should Meta echo them back', async () => {
    fake.script({ kind: 'error', status: 400, code: 100, message: `(#100) Invalid parameter`, details: `bad text 482913 for token ${fake.token}` });
    const f = failure(await provider().send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '100' });
    expect(f.error).toContain('Invalid parameter');
    expect(f.error).not.toContain('482913');
    expect(f.error).not.toContain(fake.token);
  });

  it('a 500 without a Graph error is retryable with errorCode http_500', async () => {
    fake.script(b.serverError(500));
    const f = failure(await provider().send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: 'http_500', provider: 'whatsapp' });
    expect(f.error).toContain('HTTP 500');
  });

  it('a 503 is retryable', async () => {
    fake.script(b.serverError(503));
    expect(failure(await provider().send(job()))).toMatchObject({ retryable: true, errorCode: 'http_503' });
  });

  it('a 429 with Retry-After: 7 is retryable after 7000 ms', async () => {
    fake.script(b.rateLimited(7));
    const f = failure(await provider().send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: '130429', retryAfterMs: 7000 });
  });

  it('throttling codes answered with a 400 are retryable (131056 pair rate limit, 80007, 4, 131048)', async () => {
    fake.script(
      b.pairRateLimited(),
      { kind: 'error', status: 400, code: 80007, message: '(#80007) Rate limit issues' },
      { kind: 'error', status: 400, code: 4, message: '(#4) Application request limit reached' },
      { kind: 'error', status: 400, code: 131048, message: '(#131048) Spam rate limit hit' },
    );
    for (const code of ['131056', '80007', '4', '131048']) {
      expect(failure(await provider().send(job()))).toMatchObject({ retryable: true, errorCode: code });
    }
  });

  it('other 4xx Graph codes are permanent (100 invalid parameter, 190 expired token)', async () => {
    fake.script({ kind: 'error', status: 400, code: 100, message: '(#100) Invalid parameter' });
    expect(failure(await provider().send(job()))).toMatchObject({ retryable: false, errorCode: '100' });

    const f = failure(await provider({ token: 'expired-token' }).send(job()));
    expect(f).toMatchObject({ retryable: false, errorCode: '190' });
    expect(f.error).toContain('HTTP 401');
    expect(f.error).not.toContain('expired-token');
  });

  it('gives up on a hanging API when the signal aborts, with errorCode timeout', async () => {
    fake.script(b.hang());
    const started = Date.now();
    const f = failure(await provider().send(job(), AbortSignal.timeout(150)));
    expect(f).toMatchObject({ retryable: true, errorCode: 'timeout', provider: 'whatsapp' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fake.requests).toHaveLength(1); // the request did reach the API
  });

  it('a refused connection is a retryable network failure', async () => {
    const url = fake.baseUrl;
    await fake.close();
    const f = failure(await new WhatsAppProvider({ token: 't', phoneNumberId: '1', template: 'otp_code', baseUrl: url }).send(job()));
    expect(f).toMatchObject({ retryable: true, errorCode: 'network', provider: 'whatsapp' });
    fake = await startFakeWhatsApp(); // for afterEach
  });

  it('a 200 without a message id is still a success (sending again would deliver a second code)', async () => {
    fake.script({ kind: 'raw', status: 200, body: '{}', headers: { 'content-type': 'application/json' } });
    expect(await provider().send(job())).toEqual({ ok: true, status: 'sent', provider: 'whatsapp' });
  });
});

describe('WhatsAppProvider.check', () => {
  it('reads the phone number with the Bearer token and names it', async () => {
    const result = await provider().check();
    expect(result).toEqual({ ok: true, detail: `phone number ${fake.displayPhoneNumber} (${fake.verifiedName})` });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.method).toBe('GET');
    expect(req.path).toBe(`/v21.0/${fake.phoneNumberId}`);
    expect(req.query.fields).toBe('display_phone_number,verified_name');
    expect(req.headers.authorization).toBe(`Bearer ${fake.token}`);
    expect(fake.sent).toHaveLength(0); // read-only: nothing was sent
  });

  it('with a wrong token: not ok, naming the status and Meta’s error, never the token', async () => {
    const result = await provider({ token: 'wrong-token' }).check();
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('HTTP 401');
    expect(result.detail).toContain('Invalid OAuth access token');
    expect(result.detail).toContain('190');
    expect(result.detail).not.toContain('wrong-token');
  });

  it('with a wrong phone number id: not ok with code 100', async () => {
    const result = await provider({ phoneNumberId: '999' }).check();
    expect(result.ok).toBe(false);
    expect(result.detail).toContain('HTTP 400');
    expect(result.detail).toContain('code 100');
  });

  it('a hanging API: not ok after the timeout, without throwing', async () => {
    fake.script(b.hang());
    const result = await provider().check(AbortSignal.timeout(150));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/timeout/);
  });
});
