/**
 * The SMS-pumping guard on live sends (policy fraud_guard / fraud_limits), one test per rule in
 * `monitor` and in `block`, and the refusal of premium-rate and shared-cost numbers on live keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Policy, PolicyPatch } from '../../src/domain/policy.js';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, expectProblem, recordingChannels, type RecordingChannel } from '../routes/support.js';
import { metricsText, outboxOf, sampleSum } from './support.js';

let rt: TestRuntime;
let sms: RecordingChannel;
const START = Date.now();

// The runtime the tests share never sees time move; the test that moves time builds its own (runtimeWithClock).
beforeAll(async () => {
  const channels = recordingChannels('sms');
  sms = channels.adapters.sms!;
  rt = await startRuntime({ clock: frozenClock(START), liveChannels: channels.registry });
});
afterAll(async () => {
  await rt?.dispose();
});

/** Limits that never trip: each test lowers the one its rule reads. */
const QUIET: Policy['fraud_limits'] = { country_sends_per_hour: 100_000, prefix_sends_per_hour: 100_000, conversion_min_sends: 100_000, conversion_min_rate: 0.1 };

type Rule = 'country_cap' | 'prefix_cap' | 'country_conversion' | 'prefix_conversion';

/** BR mobiles in one number range (they differ only in the last 4 digits). */
const sameRange = (i: number): string => `+551198888${String(1000 + i)}`;
/** BR mobiles in different ranges (they differ before the last 4 digits). */
const otherRanges = (i: number): string => `+55119${String(7000 + i)}1234`;

const RULES: Record<Rule, { limits: Partial<Policy['fraud_limits']>; number: (i: number) => string }> = {
  // The 3rd send to one range in the hour exceeds a cap of 2.
  prefix_cap: { limits: { prefix_sends_per_hour: 2 }, number: sameRange },
  // The 3rd send to one country in the hour exceeds a cap of 2 (each range sees one send).
  country_cap: { limits: { country_sends_per_hour: 2 }, number: otherRanges },
  // 3 sends to one range, none approved: 0 % < 50 %.
  prefix_conversion: { limits: { conversion_min_sends: 3, conversion_min_rate: 0.5 }, number: sameRange },
  // 3 sends to one country in 3 ranges, none approved.
  country_conversion: { limits: { conversion_min_sends: 3, conversion_min_rate: 0.5 }, number: otherRanges },
};

/** A valid CPF (check digits computed) from 9 base digits. */
function cpf(base: number): string {
  const digits = String(base).padStart(9, '0').slice(-9).split('').map(Number);
  const check = (ds: number[]): number => {
    const r = (ds.reduce((acc, d, i) => acc + d * (ds.length + 1 - i), 0) * 10) % 11;
    return r === 10 ? 0 : r;
  };
  const d1 = check(digits);
  return [...digits, d1, check([...digits, d1])].join('');
}

async function integrationWith(policy: PolicyPatch, on: TestRuntime = rt): Promise<TestIntegration> {
  return createIntegration(on.app, { name: 'Fraud', policy: { channels: ['sms'], ...policy } });
}

async function fraudCount(rule: string, action: string): Promise<number> {
  return sampleSum(await metricsText(rt), 'otpgate_fraud_guard_total', { rule, action });
}

async function verificationsOf(integrationId: string) {
  return rt.store.db.selectFrom('verifications').select(['identifier', 'mode']).where('integration_id', '=', integrationId).execute();
}

describe('fraud guard rules', () => {
  for (const [rule, { limits, number }] of Object.entries(RULES) as [Rule, (typeof RULES)[Rule]][]) {
    it(`${rule} in monitor: the suspect send is accepted and counted`, async () => {
      const integration = await integrationWith({ fraud_guard: 'monitor', fraud_limits: { ...QUIET, ...limits } });
      const client = api(rt.app, integration.liveKey);
      const before = await fraudCount(rule, 'monitor');
      // The runtime's metrics are shared: the block tests may already have counted this rule.
      const blockedBefore = await fraudCount(rule, 'block');
      for (let i = 0; i < 2; i++) expectJson(await client.post('/v1/verifications', { identifier: number(i) }), 201);
      expect(await fraudCount(rule, 'monitor')).toBe(before);

      const suspect = expectJson<{ id: string; channel: string }>(await client.post('/v1/verifications', { identifier: number(2) }), 201);
      expect(suspect.channel).toBe('sms');
      expect(await fraudCount(rule, 'monitor')).toBe(before + 1);
      expect(await fraudCount(rule, 'block')).toBe(blockedBefore);

      const jobsBefore = sms.jobs.length;
      await rt.worker.drain();
      expect(sms.jobs.slice(jobsBefore).map((j) => j.to)).toContain(number(2));
    });

    it(`${rule} in block: 403 fraud-suspected and nothing queued`, async () => {
      const integration = await integrationWith({ fraud_guard: 'block', fraud_limits: { ...QUIET, ...limits } });
      const client = api(rt.app, integration.liveKey);
      const before = await fraudCount(rule, 'block');
      for (let i = 0; i < 2; i++) expectJson(await client.post('/v1/verifications', { identifier: number(i) }), 201);
      await rt.worker.drain();
      const outboxBefore = (await outboxOf(rt, integration.id)).length;
      const jobsBefore = sms.jobs.length;

      const refused = expectProblem(await client.post('/v1/verifications', { identifier: number(2) }), 403, 'fraud-suspected');
      expect(refused.rule).toBe(rule);
      expect(await fraudCount(rule, 'block')).toBe(before + 1);

      expect((await verificationsOf(integration.id)).map((v) => v.identifier)).not.toContain(number(2));
      expect(await outboxOf(rt, integration.id)).toHaveLength(outboxBefore);
      await rt.worker.drain();
      expect(sms.jobs.length).toBe(jobsBefore);

      // The range (or country) stays blocked for the hour: another number in it is refused too.
      expectProblem(await client.post('/v1/verifications', { identifier: number(3) }), 403, 'fraud-suspected');
    });
  }

  it('approvals keep the conversion rate up: an approved range is not suspected', async () => {
    const integration = await integrationWith({ fraud_guard: 'block', fraud_limits: { ...QUIET, conversion_min_sends: 3, conversion_min_rate: 0.5 } });
    const client = api(rt.app, integration.liveKey);
    for (let i = 0; i < 5; i++) {
      const to = sameRange(10 + i);
      const v = expectJson<{ id: string }>(await client.post('/v1/verifications', { identifier: to }), 201);
      await rt.worker.drain();
      const job = sms.jobs.find((j) => j.verificationId === v.id);
      expect(job).toBeDefined();
      expectJson(await client.post('/v1/verifications/check', { verification_id: v.id, code: job!.code }), 200);
    }
  });

  it('resends count as sends: a range past its cap is refused on resend too', async () => {
    const { rt: own, clock } = await runtimeWithClock(START, { liveChannels: recordingChannels('sms').registry });
    const integration = await integrationWith({ fraud_guard: 'block', fraud_limits: { ...QUIET, prefix_sends_per_hour: 2 }, limits: { send_per_minute: 10, resend_cooldown_s: 1, max_sends: 5 } }, own);
    const client = api(own.app, integration.liveKey);
    const v = expectJson<{ id: string }>(await client.post('/v1/verifications', { identifier: sameRange(40) }), 201);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1_100);
      statuses.push((await client.post(`/v1/verifications/${v.id}/resend`, {})).statusCode);
    }
    await own.worker.drain();
    // Four messages to one range against a cap of 2 an hour: the guard must refuse from the 3rd on.
    expect(statuses).toEqual([200, 403, 403]);
  });

  it('a CPF send counts against the range of the phone it goes to', async () => {
    // Pumping through identities: each CPF's identity holds a number of the same range.
    const integration = await integrationWith({ fraud_guard: 'block', fraud_limits: { ...QUIET, prefix_sends_per_hour: 2 } });
    const client = api(rt.app, integration.liveKey);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const holder = cpf(123_456_780 + i);
      expectJson(await client.post('/v1/identities', { reference: `cpf-holder-${i}`, phone: sameRange(50 + i), cpf: holder }), 201);
      statuses.push((await client.post('/v1/verifications', { identifier: holder })).statusCode);
    }
    expect(statuses).toEqual([201, 201, 403]);
  });

  it('test mode is never guarded', async () => {
    const integration = await integrationWith({ fraud_guard: 'block', fraud_limits: { country_sends_per_hour: 1, prefix_sends_per_hour: 1, conversion_min_sends: 1, conversion_min_rate: 1 } });
    const client = api(rt.app, integration.testKey);
    const before = sampleSum(await metricsText(rt), 'otpgate_fraud_guard_total');
    for (let i = 0; i < 4; i++) {
      expectJson(await client.post('/v1/verifications', { identifier: sameRange(20 + i) }), 201);
      expectJson(await client.post('/v1/verifications', { identifier: otherRanges(20 + i) }), 201);
    }
    expect(sampleSum(await metricsText(rt), 'otpgate_fraud_guard_total')).toBe(before);
  });

  it('fraud_guard "off" never refuses nor counts', async () => {
    const integration = await integrationWith({ fraud_guard: 'off', fraud_limits: { country_sends_per_hour: 1, prefix_sends_per_hour: 1, conversion_min_sends: 1, conversion_min_rate: 1 } });
    const client = api(rt.app, integration.liveKey);
    const before = sampleSum(await metricsText(rt), 'otpgate_fraud_guard_total');
    for (let i = 0; i < 4; i++) {
      expectJson(await client.post('/v1/verifications', { identifier: sameRange(30 + i) }), 201);
      expectJson(await client.post('/v1/verifications', { identifier: otherRanges(30 + i) }), 201);
    }
    expect(sampleSum(await metricsText(rt), 'otpgate_fraud_guard_total')).toBe(before);
  });
});

describe('costly numbers', () => {
  const CASES = [
    { label: 'premium-rate (+44 909 876 5432)', typed: '+44 909 876 5432', reason: 'premium_rate_number' },
    { label: 'shared-cost (+34 901 123 456)', typed: '+34 901 123 456', reason: 'shared_cost_number' },
  ];
  for (const { label, typed, reason } of CASES) {
    it(`${label}: 400 validation-error on a live key, accepted on a test key`, async () => {
      const integration = await integrationWith({ fraud_guard: 'off' });
      const live = expectProblem(await api(rt.app, integration.liveKey).post('/v1/verifications', { identifier: typed }), 400, 'validation-error');
      expect(live.errors).toEqual({ identifier: [reason] });
      expect(await verificationsOf(integration.id)).toHaveLength(0);
      expect(await outboxOf(rt, integration.id)).toHaveLength(0);

      const test = expectJson<{ id: string; identifier: string }>(await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: typed }), 201);
      expect(test.identifier).toBe(typed.replace(/\s/g, ''));
    });
  }

  it('a CPF whose identity phone is premium-rate: no live SMS goes to that number', async () => {
    // The same numbers the identifier check refuses must not be reached through an identity:
    // a live send to a CPF resolves to the identity's phone.
    const integration = await integrationWith({ fraud_guard: 'block' });
    const client = api(rt.app, integration.liveKey);
    const created = await client.post('/v1/identities', { reference: 'premium-holder', phone: '+44 909 876 5432', cpf: '529.982.247-25' });
    if (created.statusCode !== 201) {
      // Refusing such a phone on the identity itself closes the path too.
      expectProblem(created, 400, 'validation-error');
      return;
    }
    await rt.worker.drain();
    const jobsBefore = sms.jobs.length;
    // Refused (400 / 422) or sent elsewhere: either way, never to the premium-rate number.
    await client.post('/v1/verifications', { identifier: '529.982.247-25' });
    await rt.worker.drain();
    expect(sms.jobs.slice(jobsBefore).map((j) => j.to)).not.toContain('+449098765432');
  });
});
