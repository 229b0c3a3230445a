import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startFakeTwilio, type FakeTwilio } from '../../test/fakes/twilio.js';
import { loadConfig, type Config } from '../config.js';
import { ManualClock, cryptoRandom } from '../domain/clock.js';
import { patchDeliverySettings, type DeliverySettingsPatch } from '../services/integration-delivery.js';
import { migrateToLatest, openStore, type Store } from '../store/database.js';
import { deleteIntegrationDelivery } from '../store/integration-delivery-repo.js';
import { insertIntegration, updateIntegration } from '../store/integrations-repo.js';
import type { ChannelAdapter, DeliveryJob } from './channel.js';
import { IntegrationProviders, type IntegrationProvidersDeps } from './integration-providers.js';
import { ProviderDirectory } from './providers/directory.js';
import { SmtpProvider } from './providers/smtp.js';
import { ResilientProvider } from './resilience.js';

const SERVER_SECRET = Buffer.from('integration-providers-test-secret-0123456789', 'utf8');
const DEPLOYMENT_APP_SECRET = 'deployment-app-secret-123456';
const DEPLOYMENT_TWILIO_TOKEN = 'deployment-twilio-token-0123456789';

let store: Store;
let clock: ManualClock;
let config: Config;
let directory: ProviderDirectory;
const opened: IntegrationProviders[] = [];

beforeEach(async () => {
  store = openStore('sqlite::memory:');
  await migrateToLatest(store.db);
  clock = new ManualClock(Date.UTC(2026, 3, 1, 8));
  config = loadConfig({
    OTPGATE_DATA_DIR: '/tmp/otpgate-integration-providers-test',
    OTPGATE_PUBLIC_URL: 'https://otp.example.com',
    OTPGATE_WEBHOOK_ALLOW_INSECURE: '1',
    OTPGATE_PROVIDER_RETRIES: '0',
    OTPGATE_TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
    OTPGATE_TWILIO_AUTH_TOKEN: DEPLOYMENT_TWILIO_TOKEN,
    OTPGATE_TWILIO_FROM: '+14155550000',
    OTPGATE_WHATSAPP_TOKEN: 'deployment-whatsapp-token',
    OTPGATE_WHATSAPP_PHONE_NUMBER_ID: '999000999',
    OTPGATE_WHATSAPP_TEMPLATE: 'otp_code',
    OTPGATE_WHATSAPP_APP_SECRET: DEPLOYMENT_APP_SECRET,
  });
  directory = ProviderDirectory.fromConfig(config);
  for (const id of ['int_A', 'int_B']) {
    await insertIntegration(store.db, { id, name: id, trust_level: 'strict', policy_json: '{}', created_at: clock.now(), updated_at: clock.now(), deleted_at: null });
  }
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
  await directory.close();
  await store.close();
});

function providers(overrides: Partial<IntegrationProvidersDeps> = {}): IntegrationProviders {
  const p = new IntegrationProviders({ db: store.db, serverSecret: SERVER_SECRET, directory, config, clock, closeGraceMs: 0, ...overrides });
  opened.push(p);
  return p;
}

async function settle(id: string, patch: DeliverySettingsPatch): Promise<void> {
  const result = await patchDeliverySettings({ db: store.db, clock, random: cryptoRandom, serverSecret: SERVER_SECRET, allowInsecure: true }, id, patch);
  if (!result.ok) throw new Error(`${result.problem.type}: ${result.problem.detail} ${JSON.stringify(result.problem.extra)}`);
}

const ownSms = (from = '+14155550100') => ({ from, account_sid: `AC${'b'.repeat(32)}`, auth_token: 'integration-twilio-token-0123' });
const ownEmail = (password = 'pw1') => ({ from: 'Acme <no-reply@acme.example>', smtp_url: `smtp://acme:${password}@127.0.0.1:2599` });
const ownWhatsApp = (phone = '106540352242922', appSecret = 'integration-app-secret-A') => ({
  template: 'acme_otp',
  language: 'pt_BR',
  phone_number_id: phone,
  access_token: 'integration-whatsapp-token',
  app_secret: appSecret,
});
const hook = { url: 'http://127.0.0.1:9/otp', channels: ['email', 'sms'] as ('email' | 'sms')[] };

function provider(adapter: ChannelAdapter | undefined) {
  expect(adapter).toBeInstanceOf(ResilientProvider);
  return (adapter as ResilientProvider).provider;
}

describe('IntegrationProviders.adapter', () => {
  it("uses the deployment's providers when the integration has no settings", async () => {
    const p = providers();
    expect(await p.adapter('int_A', 'sms')).toBe(directory.registry.sms);
    expect(await p.adapter('int_A', 'whatsapp')).toBe(directory.registry.whatsapp);
    expect(await p.adapter('int_A', 'email')).toBeUndefined();
    expect(await p.channels('int_A')).toEqual(['whatsapp', 'sms']);
    expect(await p.customisation('int_A')).toBeNull();
  });

  it('prefers own credentials, then the own HTTP gateway, then the deployment', async () => {
    await settle('int_A', { sms: ownSms(), http: hook });
    const p = providers();
    const sms = await p.adapter('int_A', 'sms');
    expect(sms).not.toBe(directory.registry.sms);
    expect(provider(sms).name).toBe('twilio');
    const email = await p.adapter('int_A', 'email');
    expect(provider(email).name).toBe('http');
    expect(await p.adapter('int_A', 'whatsapp')).toBe(directory.registry.whatsapp);
    expect(await p.channels('int_A')).toEqual(['whatsapp', 'sms', 'email']);
    // Another integration is not affected.
    expect(await p.adapter('int_B', 'sms')).toBe(directory.registry.sms);
    expect(await p.adapter('int_B', 'email')).toBeUndefined();
  });

  it('builds own WhatsApp and SMTP providers too, and a registry given in place of the directory’s', async () => {
    await settle('int_A', { whatsapp: ownWhatsApp(), email: ownEmail() });
    const fallback: ChannelAdapter = { name: 'double', send: async () => ({ ok: true, status: 'sent' }) };
    const p = providers({ registry: { sms: fallback } });
    expect(provider(await p.adapter('int_A', 'whatsapp')).name).toBe('whatsapp');
    expect(provider(await p.adapter('int_A', 'email'))).toBeInstanceOf(SmtpProvider);
    expect(await p.adapter('int_A', 'sms')).toBe(fallback);
    expect(await p.adapter('int_B', 'whatsapp')).toBeUndefined();
  });

  it("sends through the integration's own Twilio account with its status callback URL", async () => {
    const fake: FakeTwilio = await startFakeTwilio({ accountSid: `AC${randomBytes(16).toString('hex')}` });
    try {
      await settle('int_A', { sms: { from: '+14155550100', account_sid: fake.accountSid, auth_token: fake.authToken } });
      const p = providers({ baseUrls: { twilio: fake.baseUrl } });
      const adapter = await p.adapter('int_A', 'sms');
      const job: DeliveryJob = {
        sourceId: 'obx_1', deliveryId: 'del_1', integrationId: 'int_A', mode: 'live', verificationId: 'ver_1',
        channel: 'sms', to: '+5511987654321', code: '123456', locale: 'en', subject: null, text: '123456 is your code',
      };
      const outcome = await adapter?.send(job);
      expect(outcome).toMatchObject({ ok: true, provider: 'twilio' });
      expect(fake.requests).toHaveLength(1);
      expect(fake.requests[0]?.form).toMatchObject({
        From: '+14155550100',
        StatusCallback: 'https://otp.example.com/v1/providers/twilio/status?integration=int_A',
      });
    } finally {
      await fake.close();
    }
  });

  it('gives no adapter for a channel whose own credentials cannot be unsealed', async () => {
    await settle('int_A', { sms: ownSms(), http: { url: hook.url, channels: ['email'] } });
    const p = providers({ serverSecret: Buffer.from('another-server-secret-0123456789abcdef', 'utf8') });
    expect(await p.adapter('int_A', 'sms')).toBeUndefined();
    expect(await p.adapter('int_A', 'email')).toBeUndefined();
    expect(await p.adapter('int_A', 'whatsapp')).toBe(directory.registry.whatsapp);
    expect(await p.channels('int_A')).toEqual(['whatsapp']);
    expect(await p.twilioAuthToken('int_A')).toBeNull();
  });
});

describe('IntegrationProviders.customisation', () => {
  it('carries the brand, the sender overrides and the texts', async () => {
    await settle('int_A', {
      brand_name: 'Acme',
      whatsapp: { template: 'acme_otp', language: 'pt_BR' },
      sms: { from: '+14155550100' },
      email: { from: 'Acme <no-reply@acme.example>' },
      templates: { sms: { en: '{code} is your {brand} code' } },
    });
    const p = providers();
    expect(await p.customisation('int_A')).toEqual({
      brand: 'Acme',
      overrides: { whatsappTemplate: 'acme_otp', whatsappLanguage: 'pt_BR', smsFrom: '+14155550100', emailFrom: 'Acme <no-reply@acme.example>' },
      templates: { sms: { en: '{code} is your {brand} code' } },
    });
    // Sender overrides alone do not make own providers.
    expect(await p.adapter('int_A', 'sms')).toBe(directory.registry.sms);
  });
});

describe('IntegrationProviders cache', () => {
  it('keeps settings for the cache lifetime, reads them again after invalidate() or expiry, and closes replaced providers', async () => {
    await settle('int_A', { email: ownEmail('pw1'), brand_name: 'One' });
    const p = providers({ cacheMs: 5_000 });
    const first = await p.adapter('int_A', 'email');
    const firstClose = vi.spyOn(provider(first) as SmtpProvider, 'close');

    await settle('int_A', { email: ownEmail('pw2') });
    expect(await p.adapter('int_A', 'email')).toBe(first); // cached

    p.invalidate('int_A');
    const second = await p.adapter('int_A', 'email');
    expect(second).not.toBe(first);
    expect(firstClose).toHaveBeenCalledTimes(1);

    // Only the brand changes: the provider (its circuit, its connections) is kept.
    const secondClose = vi.spyOn(provider(second) as SmtpProvider, 'close');
    await settle('int_A', { brand_name: 'Two' });
    clock.advance(5_000); // expiry, without invalidate()
    expect(await p.adapter('int_A', 'email')).toBe(second);
    expect((await p.customisation('int_A'))?.brand).toBe('Two');
    expect(secondClose).not.toHaveBeenCalled();

    // Settings removed: back to the deployment, the own provider closed.
    await deleteIntegrationDelivery(store.db, 'int_A');
    p.invalidate();
    expect(await p.adapter('int_A', 'email')).toBeUndefined();
    expect(await p.customisation('int_A')).toBeNull();
    expect(secondClose).toHaveBeenCalledTimes(1);
  });

  it('reads the store once per lifetime, however many callers', async () => {
    await settle('int_A', { sms: ownSms() });
    const p = providers({ cacheMs: 5_000 });
    const spy = vi.spyOn(store.db, 'selectFrom');
    const adapters = await Promise.all([p.adapter('int_A', 'sms'), p.adapter('int_A', 'sms'), p.channels('int_A'), p.customisation('int_A')]);
    expect(adapters[0]).toBe(adapters[1]);
    expect(spy).toHaveBeenCalledTimes(1);
    await p.adapter('int_A', 'sms');
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });

  it('keeps a replaced provider open for the grace period, and close() closes everything', async () => {
    await settle('int_A', { email: ownEmail('pw1') });
    const p = providers({ closeGraceMs: 60_000 });
    const first = provider(await p.adapter('int_A', 'email')) as SmtpProvider;
    const firstClose = vi.spyOn(first, 'close');
    await settle('int_A', { email: ownEmail('pw2') });
    p.invalidate('int_A');
    const second = provider(await p.adapter('int_A', 'email')) as SmtpProvider;
    const secondClose = vi.spyOn(second, 'close');
    expect(firstClose).not.toHaveBeenCalled();
    await p.close();
    expect(firstClose).toHaveBeenCalledTimes(1);
    expect(secondClose).toHaveBeenCalledTimes(1);
  });
});

describe('IntegrationProviders callback secrets', () => {
  it("twilioAuthToken: the integration's own token, else the deployment's", async () => {
    await settle('int_A', { sms: ownSms() });
    const p = providers();
    expect(await p.twilioAuthToken('int_A')).toBe('integration-twilio-token-0123');
    expect(await p.twilioAuthToken('int_B')).toBe(DEPLOYMENT_TWILIO_TOKEN);
    expect(await p.twilioAuthToken('int_unknown')).toBe(DEPLOYMENT_TWILIO_TOKEN);
    expect(await p.twilioAuthToken(null)).toBe(DEPLOYMENT_TWILIO_TOKEN);
    expect(await providers({ config: { ...config, twilio: null } }).twilioAuthToken(null)).toBeNull();
  });

  it("whatsAppAppSecrets: the deployment's, plus those of the integrations sending from that number", async () => {
    await settle('int_A', { whatsapp: ownWhatsApp('111222333', 'app-secret-of-A') });
    await settle('int_B', { whatsapp: ownWhatsApp('444555666', 'app-secret-of-B') });
    const p = providers();
    expect(await p.whatsAppAppSecrets('111222333')).toEqual([DEPLOYMENT_APP_SECRET, 'app-secret-of-A']);
    expect(await p.whatsAppAppSecrets('444555666')).toEqual([DEPLOYMENT_APP_SECRET, 'app-secret-of-B']);
    expect(await p.whatsAppAppSecrets('11122233')).toEqual([DEPLOYMENT_APP_SECRET]); // a prefix is not a match
    expect(await p.whatsAppAppSecrets('999000999')).toEqual([DEPLOYMENT_APP_SECRET]);
    expect(await p.whatsAppAppSecrets(null)).toEqual([DEPLOYMENT_APP_SECRET]);
    expect(await p.whatsAppAppSecrets("1' OR '1'='1")).toEqual([DEPLOYMENT_APP_SECRET]);

    // A change is seen after invalidate(); a deleted integration's secret no longer counts.
    await settle('int_A', { whatsapp: { app_secret: 'rotated-secret-of-A' } });
    expect(await p.whatsAppAppSecrets('111222333')).toEqual([DEPLOYMENT_APP_SECRET, 'app-secret-of-A']);
    p.invalidate('int_A');
    expect(await p.whatsAppAppSecrets('111222333')).toEqual([DEPLOYMENT_APP_SECRET, 'rotated-secret-of-A']);
    await updateIntegration(store.db, 'int_B', { deleted_at: clock.now() });
    p.invalidate('int_B');
    expect(await p.whatsAppAppSecrets('444555666')).toEqual([DEPLOYMENT_APP_SECRET]);

    const withoutDeployment = providers({ config: { ...config, whatsapp: null } });
    expect(await withoutDeployment.whatsAppAppSecrets('111222333')).toEqual(['rotated-secret-of-A']);
  });
});
