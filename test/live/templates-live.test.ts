/**
 * What a live SMS says, as the fake Twilio receives it: the requested locale, the country's
 * language when none is given, and the WebOTP line of `delivery.app_domain`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyPatch } from '../../src/domain/policy.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { frozenClock } from '../helpers/clock.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, phone, usPhone } from '../routes/support.js';
import { providerEnv, twilioSends } from './support.js';

let twilio: FakeTwilio;
let rt: TestRuntime;

beforeAll(async () => {
  twilio = await startFakeTwilio();
  rt = await startRuntime({ clock: frozenClock(Date.now()), env: providerEnv({ twilio }) });
});
afterAll(async () => {
  await rt?.dispose();
  await twilio?.close();
});

async function integration(policy: PolicyPatch = {}): Promise<TestIntegration> {
  return createIntegration(rt.app, { name: 'Loja Exemplo', policy: { channels: ['sms'], ...policy } });
}

/** Sends a live SMS, delivers it, and returns the Body Twilio received, the code it starts with and the verification id. */
async function liveSms(target: TestIntegration, body: Record<string, unknown>): Promise<{ text: string; code: string; id: string }> {
  const before = twilioSends(twilio).length;
  const v = expectJson<{ id: string; channel: string }>(await api(rt.app, target.liveKey).post('/v1/verifications', body), 201);
  expect(v.channel).toBe('sms');
  await rt.worker.drain();
  const calls = twilioSends(twilio).slice(before);
  expect(calls).toHaveLength(1);
  expect(calls[0]!.form.To).toBe(body.identifier);
  const text = calls[0]!.form.Body ?? '';
  const code = /^(\d{6}) /.exec(text)?.[1];
  if (!code) throw new Error(`the SMS does not start with the code: ${text}`);
  return { text, code, id: v.id };
}

async function approve(target: TestIntegration, id: string, code: string): Promise<void> {
  expectJson(await api(rt.app, target.liveKey).post('/v1/verifications/check', { verification_id: id, code }), 200);
}

describe('live SMS texts', () => {
  it('in pt-BR when the request asks for it (to a US number)', async () => {
    const target = await integration();
    const { text, code, id } = await liveSms(target, { identifier: usPhone(), locale: 'pt-BR' });
    expect(text).toBe(`${code} é o seu código de verificação Loja Exemplo. Ele expira em 5 minutos.\nNão o compartilhe com ninguém.`);
    await approve(target, id, code);
  });

  it('in Spanish for a +34 mobile when no locale is given', async () => {
    const target = await integration();
    const { text, code, id } = await liveSms(target, { identifier: '+34612345678' });
    expect(text).toBe(`${code} es tu código de verificación de Loja Exemplo. Expira en 5 minutos.\nNo lo compartas con nadie.`);
    await approve(target, id, code);
  });

  it('in English for a US number with no locale', async () => {
    const target = await integration();
    const { text, code } = await liveSms(target, { identifier: usPhone() });
    expect(text).toBe(`${code} is your Loja Exemplo verification code. It expires in 5 minutes.\nDo not share it with anyone.`);
  });

  it('with delivery.app_domain, the SMS ends with the WebOTP line `@example.com #<code>`', async () => {
    const target = await integration({ delivery: { app_domain: 'example.com' } });
    const { text, code, id } = await liveSms(target, { identifier: phone() });
    expect(text.endsWith(`\n@example.com #${code}`)).toBe(true);
    // A Brazilian number: the body is in pt-BR, and the WebOTP line stays last.
    expect(text.startsWith(`${code} é o seu código de verificação Loja Exemplo.`)).toBe(true);
    expect(text.split('\n').at(-1)).toBe(`@example.com #${code}`);
    await approve(target, id, code);
  });
});
