import { describe, expect, it } from 'vitest';
import { unseal } from '../../src/domain/codes.js';
import { getIntegrationDelivery } from '../../src/store/integration-delivery-repo.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { createIntegration } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, useRuntime } from './support.js';

interface SettingsBody {
  integration_id: string;
  brand_name: string | null;
  whatsapp: { template: string | null; language: string | null; phone_number_id: string | null; access_token_set: boolean; app_secret_set: boolean } | null;
  sms: { from: string | null; account_sid: string | null; auth_token_set: boolean } | null;
  email: { from: string | null; smtp_url_set: boolean } | null;
  http: { url: string; channels: string[]; secret_set: boolean; secret?: string } | null;
  templates: Record<string, Record<string, string>> | null;
  updated_at: string | null;
}

const START = Date.UTC(2026, 3, 1, 8);
// Shared by the tests, so its clock never moves; a test that moves time builds its own runtime.
const runtime = useRuntime({ clock: frozenClock(START) });
const url = (id: string) => `/admin/v1/integrations/${id}/delivery`;

const SECRETS = {
  access_token: 'EAAG-whatsapp-token-0123456789-abcdef',
  app_secret: 'meta-app-secret-0f1e2d3c4b5a6978',
  auth_token: 'twilio-auth-token-fedcba9876543210',
  smtp_password: 'smtp-pa55word-xyzzy',
};
const SMTP_URL = `smtps://mailer:${SECRETS.smtp_password}@smtp.example.net:465`;
const PUBLIC_HOOK = 'https://93.184.216.34/otp-gateway';
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;

const FULL = {
  brand_name: 'Acme Shop',
  whatsapp: { template: 'acme_otp', language: 'pt_BR', phone_number_id: '106540352242922', access_token: SECRETS.access_token, app_secret: SECRETS.app_secret },
  sms: { from: SERVICE_SID, account_sid: ACCOUNT_SID, auth_token: SECRETS.auth_token },
  email: { from: 'Acme <no-reply@acme.example>', smtp_url: SMTP_URL },
  templates: { sms: { en: 'Your {brand} code: {code}', 'pt-BR': 'Seu código {brand}: {code}' } },
};

function expectNoSecret(text: string): void {
  for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
}

describe('delivery settings: auth and existence', () => {
  it('needs the admin token', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const res = await rt.app.inject({ method, url: url(id), ...(method === 'PATCH' ? { payload: { brand_name: 'X' } } : {}) });
      expectProblem(res, 401, 'invalid-api-key');
    }
    const withApiKey = await rt.app.inject({ method: 'GET', url: url(id), headers: { 'x-api-key': (await createIntegration(rt.app)).testKey } });
    expectProblem(withApiKey, 401, 'invalid-api-key');
  });

  it('answers 404 for an unknown or a deleted integration', async () => {
    const rt = runtime();
    const op = admin(rt.app);
    expectProblem(await op.get(url('int_doesnotexist')), 404, 'not-found');
    expectProblem(await op.patch(url('int_doesnotexist'), { brand_name: 'X' }), 404, 'not-found');
    expectProblem(await op.delete(url('int_doesnotexist')), 404, 'not-found');
    const { id } = await createIntegration(rt.app);
    expectJson(await op.delete(`/admin/v1/integrations/${id}`), 200);
    expectProblem(await op.get(url(id)), 404, 'not-found');
    expectProblem(await op.patch(url(id), { brand_name: 'X' }), 404, 'not-found');
  });
});

describe('delivery settings: set, read, merge, clear', () => {
  it("starts at the deployment's defaults", async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const body = expectJson<SettingsBody>(await admin(rt.app).get(url(id)), 200);
    expect(body).toEqual({ integration_id: id, brand_name: null, whatsapp: null, sms: null, email: null, http: null, templates: null, updated_at: null });
  });

  it('sets every section, never answers a credential and stores them sealed', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const res = await op.patch(url(id), FULL);
    const body = expectJson<SettingsBody>(res, 200);
    expect(body).toEqual({
      integration_id: id,
      brand_name: 'Acme Shop',
      whatsapp: { template: 'acme_otp', language: 'pt_BR', phone_number_id: '106540352242922', access_token_set: true, app_secret_set: true },
      sms: { from: SERVICE_SID, account_sid: ACCOUNT_SID, auth_token_set: true },
      email: { from: 'Acme <no-reply@acme.example>', smtp_url_set: true },
      http: null,
      templates: { sms: { en: 'Your {brand} code: {code}', 'pt-BR': 'Seu código {brand}: {code}' } },
      updated_at: new Date(START).toISOString(),
    });
    expectNoSecret(res.body);
    expect(res.headers['cache-control']).toBe('no-store'); // every API answer is no-store

    const read = await op.get(url(id));
    expect(expectJson<SettingsBody>(read, 200)).toEqual(body);
    expectNoSecret(read.body);

    const row = await getIntegrationDelivery(rt.store.db, id);
    expect(row).toBeDefined();
    expectNoSecret(row?.settings_json ?? '');
    expect(row?.settings_json).not.toContain('smtps://');
    // Sealed, not dropped: the server can read them back.
    const stored = JSON.parse(row?.settings_json ?? '{}') as { whatsapp: { access_token_sealed: string }; sms: { auth_token_sealed: string }; email: { smtp_url_sealed: string } };
    expect(unseal(rt.services.serverSecret, stored.whatsapp.access_token_sealed)).toBe(SECRETS.access_token);
    expect(unseal(rt.services.serverSecret, stored.sms.auth_token_sealed)).toBe(SECRETS.auth_token);
    expect(unseal(rt.services.serverSecret, stored.email.smtp_url_sealed)).toBe(SMTP_URL);
  });

  it('merges section by section and field by field; null clears a field or a section', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    expectJson(await op.patch(url(id), FULL), 200);

    clock.advance(1000);
    let body = expectJson<SettingsBody>(await op.patch(url(id), { sms: { from: '+14155550100' }, templates: { sms: { es: 'Tu código: {code}' }, email: { en: '{code} for {brand}' } } }), 200);
    expect(body.sms).toEqual({ from: '+14155550100', account_sid: ACCOUNT_SID, auth_token_set: true });
    expect(body.whatsapp?.access_token_set).toBe(true);
    expect(body.brand_name).toBe('Acme Shop');
    expect(body.templates).toEqual({
      sms: { en: 'Your {brand} code: {code}', 'pt-BR': 'Seu código {brand}: {code}', es: 'Tu código: {code}' },
      email: { en: '{code} for {brand}' },
    });
    expect(body.updated_at).toBe(new Date(clock.now()).toISOString());

    body = expectJson<SettingsBody>(await op.patch(url(id), { whatsapp: { language: null }, templates: { sms: { 'pt-BR': null }, email: null } }), 200);
    expect(body.whatsapp).toEqual({ template: 'acme_otp', language: null, phone_number_id: '106540352242922', access_token_set: true, app_secret_set: true });
    expect(body.templates).toEqual({ sms: { en: 'Your {brand} code: {code}', es: 'Tu código: {code}' } });

    body = expectJson<SettingsBody>(await op.patch(url(id), { brand_name: null, sms: null, templates: null }), 200);
    expect(body.brand_name).toBeNull();
    expect(body.sms).toBeNull();
    expect(body.templates).toBeNull();
    expect(body.whatsapp?.phone_number_id).toBe('106540352242922');
    expect(body.email).toEqual({ from: 'Acme <no-reply@acme.example>', smtp_url_set: true });

    // Sender overrides without own credentials are fine (the deployment's account sends).
    body = expectJson<SettingsBody>(await op.patch(url(id), { whatsapp: null, sms: { from: SERVICE_SID }, email: { smtp_url: null } }), 200);
    expect(body.whatsapp).toBeNull();
    expect(body.sms).toEqual({ from: SERVICE_SID, account_sid: null, auth_token_set: false });
    expect(body.email).toEqual({ from: 'Acme <no-reply@acme.example>', smtp_url_set: false });
    expect(expectJson<SettingsBody>(await op.get(url(id)), 200)).toEqual(body);

    // Clearing everything is the same as DELETE.
    body = expectJson<SettingsBody>(await op.patch(url(id), { sms: null, email: null }), 200);
    expect(body).toEqual({ integration_id: id, brand_name: null, whatsapp: null, sms: null, email: null, http: null, templates: null, updated_at: null });
    expect(await getIntegrationDelivery(rt.store.db, id)).toBeUndefined();
  });

  it("DELETE goes back to the deployment's defaults", async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    expectJson(await op.patch(url(id), FULL), 200);
    const body = expectJson<SettingsBody>(await op.delete(url(id)), 200);
    expect(body).toEqual({ integration_id: id, brand_name: null, whatsapp: null, sms: null, email: null, http: null, templates: null, updated_at: null });
    expect(expectJson<SettingsBody>(await op.get(url(id)), 200)).toEqual(body);
    expect(await getIntegrationDelivery(rt.store.db, id)).toBeUndefined();
    // Deleting again is fine.
    expectJson(await op.delete(url(id)), 200);
  });
});

describe('delivery settings: the HTTP gateway', () => {
  it('generates a secret, shows it once with Cache-Control: no-store, and keeps it on later changes', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const res = await op.patch(url(id), { http: { url: PUBLIC_HOOK, channels: ['sms', 'whatsapp'] } });
    const body = expectJson<SettingsBody>(res, 200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(body.http).toMatchObject({ url: PUBLIC_HOOK, channels: ['sms', 'whatsapp'], secret_set: true });
    const secret = body.http?.secret ?? '';
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);

    const read = await op.get(url(id));
    expect(expectJson<SettingsBody>(read, 200).http).toEqual({ url: PUBLIC_HOOK, channels: ['sms', 'whatsapp'], secret_set: true });
    expect(read.body).not.toContain(secret);
    const row = await getIntegrationDelivery(rt.store.db, id);
    expect(row?.settings_json).not.toContain(secret.slice(6, 30));

    const later = await op.patch(url(id), { http: { channels: ['email'] }, brand_name: 'Acme' });
    expect(expectJson<SettingsBody>(later, 200).http).toEqual({ url: PUBLIC_HOOK, channels: ['email'], secret_set: true });
    expect(later.headers['cache-control']).toBe('no-store');
    const stored = JSON.parse((await getIntegrationDelivery(rt.store.db, id))?.settings_json ?? '{}') as { http: { secret_sealed: string } };
    expect(unseal(rt.services.serverSecret, stored.http.secret_sealed)).toBe(secret);

    // null rotates: a new secret, shown once.
    const rotated = await op.patch(url(id), { http: { secret: null } });
    const newSecret = expectJson<SettingsBody>(rotated, 200).http?.secret;
    expect(rotated.headers['cache-control']).toBe('no-store');
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secret);

    expect(expectJson<SettingsBody>(await op.patch(url(id), { http: null }), 200).http).toBeNull();
  });

  it("takes the operator's own secret, shown once in that answer", async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const res = await admin(rt.app).patch(url(id), { http: { url: PUBLIC_HOOK, channels: ['sms'], secret } });
    expect(expectJson<SettingsBody>(res, 200).http?.secret).toBe(secret);
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await getIntegrationDelivery(rt.store.db, id))?.settings_json).not.toContain(secret.slice(6));
  });

  it('answers 422 invalid-webhook-url with the guard’s reason for a URL it refuses', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const loopback = expectProblem(await op.patch(url(id), { http: { url: 'https://127.0.0.1/hook', channels: ['sms'] } }), 422, 'invalid-webhook-url');
    expect(loopback.detail).toBe('The address 127.0.0.1 is a loopback address; only public addresses are allowed.');
    const plain = expectProblem(await op.patch(url(id), { http: { url: 'http://93.184.216.34/hook', channels: ['sms'] } }), 422, 'invalid-webhook-url');
    expect(plain.detail).toBe('The URL must use https (it uses "http").');
    const metadata = expectProblem(await op.patch(url(id), { http: { url: 'https://169.254.169.254/latest', channels: ['sms'] } }), 422, 'invalid-webhook-url');
    expect(metadata.detail).toMatch(/link-local/);
    expect(expectJson<SettingsBody>(await op.get(url(id)), 200).http).toBeNull();
  });

  it('needs a url and channels when first set, and a well-formed secret', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const missing = expectProblem(await op.patch(url(id), { http: { url: PUBLIC_HOOK } }), 400, 'validation-error');
    expect(Object.keys(missing.errors ?? {})).toEqual(['http.channels']);
    const bad = expectProblem(await op.patch(url(id), { http: { url: PUBLIC_HOOK, channels: ['sms'], secret: 'not-a-whsec-secret' } }), 400, 'validation-error');
    expect(Object.keys(bad.errors ?? {})).toEqual(['http.secret']);
    const channel = expectProblem(await op.patch(url(id), { http: { url: PUBLIC_HOOK, channels: ['fax'] } }), 400, 'validation-error');
    expect(Object.keys(channel.errors ?? {})).toContain('http.channels.0');
  });
});

describe('delivery settings: OpenAPI', () => {
  it('documents the three operations', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/docs/json' });
    const doc = expectJson<{ paths: Record<string, Record<string, unknown>> }>(res, 200);
    expect(Object.keys(doc.paths['/admin/v1/integrations/{id}/delivery'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
  });
});

describe('delivery settings: validation', () => {
  it('refuses own credentials that are not complete, naming the missing fields', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);

    const whatsapp = expectProblem(await op.patch(url(id), { whatsapp: { phone_number_id: '106540352242922', template: 'acme_otp' } }), 400, 'validation-error');
    expect(Object.keys(whatsapp.errors ?? {})).toEqual(['whatsapp.access_token']);
    expect(whatsapp.detail).toContain('whatsapp.access_token');

    const sms = expectProblem(await op.patch(url(id), { sms: { auth_token: SECRETS.auth_token } }), 400, 'validation-error');
    expect(Object.keys(sms.errors ?? {}).sort()).toEqual(['sms.account_sid', 'sms.from']);

    const email = expectProblem(await op.patch(url(id), { email: { smtp_url: SMTP_URL } }), 400, 'validation-error');
    expect(Object.keys(email.errors ?? {})).toEqual(['email.from']);

    // Removing half of stored credentials is refused too.
    expectJson(await op.patch(url(id), { sms: FULL.sms }), 200);
    const half = expectProblem(await op.patch(url(id), { sms: { auth_token: null } }), 400, 'validation-error');
    expect(Object.keys(half.errors ?? {})).toEqual(['sms.auth_token']);
    expect(expectJson<SettingsBody>(await op.get(url(id)), 200).sms?.auth_token_set).toBe(true);
  });

  it('checks template texts with the template rules', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const noCode = expectProblem(await op.patch(url(id), { templates: { sms: { en: 'Your code is ready' } } }), 400, 'validation-error');
    expect(noCode.errors).toEqual({ 'templates.sms.en': ['the template must contain {code}'] });
    const typo = expectProblem(await op.patch(url(id), { templates: { whatsapp: { es: 'Código {Code}' } } }), 400, 'validation-error');
    expect(typo.errors?.['templates.whatsapp.es']?.[0]).toMatch(/unknown placeholder \{Code\}/);
    const locale = expectProblem(await op.patch(url(id), { templates: { sms: { fr: 'Votre code {code}' } } }), 400, 'validation-error');
    expect(Object.keys(locale.errors ?? {})).toEqual(['templates.sms.fr']);
    const channel = expectProblem(await op.patch(url(id), { templates: { voice: { en: '{code}' } } }), 400, 'validation-error');
    expect(Object.keys(channel.errors ?? {})).toEqual(['templates.voice']);
    expect(expectJson<SettingsBody>(await op.get(url(id)), 200).templates).toBeNull();
  });

  it('refuses unknown fields, and malformed values', async () => {
    const rt = runtime();
    const { id } = await createIntegration(rt.app);
    const op = admin(rt.app);
    const cases: [unknown, string][] = [
      [{ brand: 'Acme' }, 'brand'],
      [{ whatsapp: { token: 'x' } }, 'whatsapp.token'],
      [{ sms: { from: '+1 415 555 0100' } }, 'sms.from'],
      [{ sms: { account_sid: 'AC123' } }, 'sms.account_sid'],
      [{ email: { from: 'not an address' } }, 'email.from'],
      [{ email: { from: 'Acme <no-reply@acme.example>\r\nBcc: x@y.example' } }, 'email.from'],
      [{ email: { smtp_url: 'https://smtp.example.net', from: 'a@acme.example' } }, 'email.smtp_url'],
      [{ brand_name: '' }, 'brand_name'],
      [{ brand_name: 'x'.repeat(61) }, 'brand_name'],
      [{ brand_name: '   ' }, 'brand_name'],
      [{ whatsapp: { language: 'Portuguese' } }, 'whatsapp.language'],
    ];
    for (const [payload, field] of cases) {
      const problem = expectProblem(await op.patch(url(id), payload), 400, 'validation-error');
      expect(Object.keys(problem.errors ?? {}), JSON.stringify(payload)).toContain(field);
    }
    expectProblem(await op.patch(url(id)), 400, 'validation-error');
    expect(await getIntegrationDelivery(rt.store.db, id)).toBeUndefined();
  });
});
