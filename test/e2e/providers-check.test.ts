import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { startFakeWhatsApp, type FakeWhatsApp } from '../fakes/whatsapp.js';

const run = promisify(execFile);
let dir: string;
let whatsapp: FakeWhatsApp;
let twilio: FakeTwilio;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'otpgate-providers-'));
  whatsapp = await startFakeWhatsApp();
  twilio = await startFakeTwilio();
});
afterAll(async () => {
  await whatsapp.close();
  await twilio.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `otpgate providers check` as an operator runs it (asynchronously: the fakes answer in this process). */
async function check(extra: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OTPGATE_')) env[k] = v;
  Object.assign(env, { OTPGATE_DATA_DIR: dir, OTPGATE_LOG_LEVEL: 'silent', ...extra });
  try {
    const { stdout } = await run('node', ['dist/cli/index.js', 'providers', 'check', ...args], { env, encoding: 'utf8' });
    return { code: 0, stdout };
  } catch (err) {
    const failed = err as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

const whatsAppEnv = (token: string) => ({
  OTPGATE_WHATSAPP_TOKEN: token,
  OTPGATE_WHATSAPP_PHONE_NUMBER_ID: whatsapp.phoneNumberId,
  OTPGATE_WHATSAPP_TEMPLATE: 'otp_code',
  OTPGATE_WHATSAPP_BASE_URL: whatsapp.baseUrl,
});
const twilioEnv = (token: string) => ({
  OTPGATE_TWILIO_ACCOUNT_SID: twilio.accountSid,
  OTPGATE_TWILIO_AUTH_TOKEN: token,
  OTPGATE_TWILIO_FROM: '+15005550006',
  OTPGATE_TWILIO_BASE_URL: twilio.baseUrl,
});

describe('otpgate providers check', () => {
  it('proves each provider with a read-only call and lists the channels live mode can use', async () => {
    const sentBefore = whatsapp.requests.filter((r) => r.method === 'POST').length;
    const { code, stdout } = await check({ ...whatsAppEnv(whatsapp.token), ...twilioEnv(twilio.authToken) }, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { providers: { name: string; ok: boolean; channels: string[] }[]; live_channels: string[]; unavailable_channels: string[] };
    expect(report.providers.map((p) => [p.name, p.ok, p.channels])).toEqual([
      ['whatsapp', true, ['whatsapp']],
      ['twilio', true, ['sms']],
    ]);
    expect(report.live_channels).toEqual(['whatsapp', 'sms']);
    expect(report.unavailable_channels).toEqual(['email']);
    expect(whatsapp.requests.filter((r) => r.method === 'POST').length).toBe(sentBefore); // nothing was sent
  });

  it('exits 1 and names the provider whose credentials fail, without printing the credential', async () => {
    const { code, stdout } = await check({ ...whatsAppEnv(whatsapp.token), ...twilioEnv('wrong-token-0123456789') });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ok\s+whatsapp/m);
    expect(stdout).toMatch(/^FAIL\s+twilio/m);
    expect(stdout).toContain('live channels: whatsapp');
    expect(stdout).not.toContain('wrong-token-0123456789');
  });

  it('says so when no provider is configured', async () => {
    const { code, stdout } = await check({});
    expect(code).toBe(0);
    expect(stdout).toContain('no live provider is configured');
    expect(stdout).toContain('live channels: none');
  });
});
