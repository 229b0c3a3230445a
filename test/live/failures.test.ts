/**
 * Provider failures end to end, through the resilience layer (timeout, retries, Retry-After,
 * circuit breaker): what the deliveries show, where the code goes next, what /readyz and /metrics say.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { startFakeTwilio, type FakeTwilio } from '../fakes/twilio.js';
import { startFakeWhatsApp, whatsAppBehaviours, type FakeWhatsApp } from '../fakes/whatsapp.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, phone, type DeliveryBody } from '../routes/support.js';
import { metricsText, outboxOf, providerEnv, sampleSum, sleep, twilioSends, whatsAppCode, whatsAppSends } from './support.js';

type LiveDelivery = DeliveryBody;

interface Ready {
  status: string;
  providers: { name: string; channels: string[]; circuit: string }[];
  open_circuits: string[];
}

interface Setup {
  whatsapp: FakeWhatsApp;
  twilio: FakeTwilio;
  clock: ManualClock;
  rt: TestRuntime;
  integration: TestIntegration;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Fakes, a runtime configured with these provider tunables, and an integration (whatsapp, then sms). */
async function setup(tunables: Record<string, string>, channels: string[] = ['whatsapp', 'sms']): Promise<Setup> {
  const [whatsapp, twilio] = await Promise.all([startFakeWhatsApp(), startFakeTwilio()]);
  cleanups.push(async () => {
    await Promise.all([whatsapp.close(), twilio.close()]);
  });
  const clock = new ManualClock(Date.now());
  const rt = await startRuntime({ clock, env: providerEnv({ whatsapp, twilio, extra: { OTPGATE_PROVIDER_BACKOFF_MS: '5', ...tunables } }) });
  cleanups.push(() => rt.dispose());
  const integration = await createIntegration(rt.app, { name: 'Failures', policy: { channels: channels as ('whatsapp' | 'sms' | 'email')[] } });
  return { whatsapp, twilio, clock, rt, integration };
}

async function sendAndDrain(s: Setup, to: string = phone()): Promise<{ id: string; deliveries: LiveDelivery[] }> {
  const client = api(s.rt.app, s.integration.liveKey);
  const sent = expectJson<{ id: string }>(await client.post('/v1/verifications', { identifier: to }), 201);
  await s.rt.worker.drain();
  return { id: sent.id, deliveries: expectJson<{ deliveries: LiveDelivery[] }>(await client.get(`/v1/verifications/${sent.id}`), 200).deliveries };
}

async function readyz(rt: TestRuntime): Promise<Ready> {
  return expectJson<Ready>(await rt.app.inject({ method: 'GET', url: '/readyz' }), 200);
}

describe('provider failures', () => {
  it('a provider that does not answer: each call times out, the attempt fails with `timeout` and the code goes by SMS', async () => {
    const s = await setup({ OTPGATE_PROVIDER_TIMEOUT_MS: '200', OTPGATE_PROVIDER_RETRIES: '2' });
    s.whatsapp.script(whatsAppBehaviours.hang(), whatsAppBehaviours.hang(), whatsAppBehaviours.hang());
    const to = phone();

    const started = performance.now();
    const v = await sendAndDrain(s, to);
    const elapsed = performance.now() - started;

    // Three calls (a timeout is retried), each given up after ~200 ms.
    const calls = whatsAppSends(s.whatsapp);
    expect(calls).toHaveLength(3);
    expect(elapsed).toBeGreaterThanOrEqual(3 * 190);
    expect(elapsed).toBeLessThan(8_000);
    const code = whatsAppCode(calls[0]!.body);

    expect(v.deliveries.map((d) => [d.channel, d.provider, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'whatsapp', 'failed', 'timeout'],
      ['sms', 'twilio', 'sent', null],
    ]);
    const sms = twilioSends(s.twilio);
    expect(sms).toHaveLength(1);
    expect(sms[0]!.form.To).toBe(to);
    expect(sms[0]!.form.Body).toContain(code);

    const metrics = await metricsText(s.rt);
    expect(sampleSum(metrics, 'otpgate_provider_attempts_total', { provider: 'whatsapp', channel: 'whatsapp', result: 'failed' })).toBe(3);
    expect(sampleSum(metrics, 'otpgate_provider_attempts_total', { provider: 'twilio', channel: 'sms', result: 'ok' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_provider_failures_total', { provider: 'whatsapp', channel: 'whatsapp', reason: 'timeout' })).toBe(3);
    expect(sampleSum(metrics, 'otpgate_provider_latency_seconds_count', { provider: 'whatsapp', channel: 'whatsapp' })).toBe(3);
    expect(sampleSum(metrics, 'otpgate_provider_latency_seconds_count', { provider: 'twilio', channel: 'sms' })).toBe(1);
    // The timed-out calls took at least the timeout each.
    expect(sampleSum(metrics, 'otpgate_provider_latency_seconds_sum', { provider: 'whatsapp', channel: 'whatsapp' })).toBeGreaterThanOrEqual(0.55);
    expect(sampleSum(metrics, 'otpgate_provider_latency_seconds_bucket', { provider: 'whatsapp', channel: 'whatsapp', le: '0.1' })).toBe(0);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms', reason: 'timeout' })).toBe(1);
  });

  it('429 with a Retry-After beyond OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS ends the attempt at once and falls back', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '3', OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS: '1000' });
    s.whatsapp.script(whatsAppBehaviours.rateLimited(60));

    const started = performance.now();
    const v = await sendAndDrain(s);
    expect(performance.now() - started).toBeLessThan(5_000);

    expect(whatsAppSends(s.whatsapp)).toHaveLength(1); // no retry inside the attempt
    expect(v.deliveries.map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'failed', '130429'],
      ['sms', 'sent', null],
    ]);
    expect(twilioSends(s.twilio)).toHaveLength(1);
    const metrics = await metricsText(s.rt);
    expect(sampleSum(metrics, 'otpgate_provider_failures_total', { provider: 'whatsapp', reason: '130429' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms', reason: '130429' })).toBe(1);
  });

  it('429 with a short Retry-After is retried within the attempt', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '2', OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS: '5000' });
    s.whatsapp.script(whatsAppBehaviours.rateLimited(1));
    const started = performance.now();
    const v = await sendAndDrain(s);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950); // waited what Retry-After asked
    expect(whatsAppSends(s.whatsapp)).toHaveLength(2);
    expect(v.deliveries.map((d) => [d.channel, d.status])).toEqual([['whatsapp', 'sent']]);
    expect(twilioSends(s.twilio)).toHaveLength(0);
  });

  it('with no channel left, a long Retry-After leaves the message to the outbox, not before Retry-After', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '3', OTPGATE_PROVIDER_MAX_RETRY_AFTER_MS: '1000' }, ['whatsapp']);
    s.whatsapp.script(whatsAppBehaviours.rateLimited(60));
    const v = await sendAndDrain(s);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(1);
    expect(v.deliveries).toHaveLength(1);
    expect(v.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'queued', error_code: '130429' });
    const [message] = (await outboxOf(s.rt, s.integration.id)).filter((r) => r.kind === 'message' && r.status === 'pending');
    expect(message).toBeDefined();
    expect(message!.available_at).toBeGreaterThanOrEqual(s.clock.now() + 60_000);

    s.clock.advance(30_000);
    await s.rt.worker.drain();
    expect(whatsAppSends(s.whatsapp)).toHaveLength(1);
    s.clock.advance(31_000);
    await s.rt.worker.drain();
    expect(whatsAppSends(s.whatsapp)).toHaveLength(2);
    const after = expectJson<{ deliveries: LiveDelivery[] }>(await api(s.rt.app, s.integration.liveKey).get(`/v1/verifications/${v.id}`), 200);
    expect(after.deliveries).toMatchObject([{ channel: 'whatsapp', status: 'sent', provider: 'whatsapp' }]);
    expect(after.deliveries[0]!.error_code).toBeUndefined();
  });

  it('the circuit opens after OTPGATE_PROVIDER_BREAKER_FAILURES consecutive 5xx, skips the provider while open, and a probe closes it', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '0', OTPGATE_PROVIDER_BREAKER_FAILURES: '3', OTPGATE_PROVIDER_BREAKER_HALF_OPEN_MS: '400' });
    const initially = await readyz(s.rt);
    expect(initially.status).toBe('ready');
    expect(initially.open_circuits).toEqual([]);
    expect(initially.providers).toEqual(
      expect.arrayContaining([
        { name: 'whatsapp', channels: ['whatsapp'], circuit: 'closed' },
        { name: 'twilio', channels: ['sms'], circuit: 'closed' },
      ]),
    );

    s.whatsapp.script(whatsAppBehaviours.serverError(503), whatsAppBehaviours.serverError(502), whatsAppBehaviours.somethingWentWrong());
    const codes: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const v = await sendAndDrain(s);
      expect(v.deliveries.map((d) => [d.channel, d.status])).toEqual([
        ['whatsapp', 'failed'],
        ['sms', 'sent'],
      ]);
      codes.push(v.deliveries[0]!.error_code ?? null);
      if (i < 2) expect((await readyz(s.rt)).open_circuits).toEqual([]);
    }
    expect(codes).toEqual(['http_503', 'http_502', '131000']);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(3);

    // Open: /readyz says so (still 200), and sends go straight to SMS without calling WhatsApp.
    const open = await readyz(s.rt);
    expect(open.status).toBe('degraded');
    expect(open.open_circuits).toEqual(['whatsapp']);
    expect(open.providers.find((p) => p.name === 'whatsapp')?.circuit).toBe('open');
    expect(open.providers.find((p) => p.name === 'twilio')?.circuit).toBe('closed');

    const skipped = await sendAndDrain(s);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(3);
    expect(skipped.deliveries.map((d) => [d.channel, d.status, d.error_code ?? null])).toEqual([
      ['whatsapp', 'failed', 'circuit_open'],
      ['sms', 'sent', null],
    ]);
    expect(twilioSends(s.twilio)).toHaveLength(4);

    let metrics = await metricsText(s.rt);
    expect(sampleSum(metrics, 'otpgate_provider_circuit_open', { provider: 'whatsapp' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_provider_failures_total', { provider: 'whatsapp', reason: 'circuit_open' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_provider_failures_total', { provider: 'whatsapp', reason: 'http_503' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms', reason: 'circuit_open' })).toBe(1);
    expect(sampleSum(metrics, 'otpgate_delivery_fallbacks_total', { from: 'whatsapp', to: 'sms' })).toBe(4);

    // After the half-open delay one probe goes through; its success closes the circuit.
    await sleep(500);
    const probe = await sendAndDrain(s);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(4);
    expect(probe.deliveries.map((d) => [d.channel, d.provider, d.status])).toEqual([['whatsapp', 'whatsapp', 'sent']]);
    const closed = await readyz(s.rt);
    expect(closed.status).toBe('ready');
    expect(closed.open_circuits).toEqual([]);
    expect(closed.providers.find((p) => p.name === 'whatsapp')?.circuit).toBe('closed');
    metrics = await metricsText(s.rt);
    expect(sampleSum(metrics, 'otpgate_provider_circuit_open', { provider: 'whatsapp' })).toBe(0);

    // Closed again: the next send goes to WhatsApp as usual.
    const after = await sendAndDrain(s);
    expect(after.deliveries.map((d) => [d.channel, d.status])).toEqual([['whatsapp', 'sent']]);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(5);
  });

  it('a failed probe opens the circuit again', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '0', OTPGATE_PROVIDER_BREAKER_FAILURES: '2', OTPGATE_PROVIDER_BREAKER_HALF_OPEN_MS: '300' });
    s.whatsapp.script(whatsAppBehaviours.serverError(), whatsAppBehaviours.serverError(), whatsAppBehaviours.serverError());
    await sendAndDrain(s);
    await sendAndDrain(s);
    expect((await readyz(s.rt)).open_circuits).toEqual(['whatsapp']);
    await sleep(400);
    const probe = await sendAndDrain(s);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(3);
    expect(probe.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'failed', error_code: 'http_500' });
    expect((await readyz(s.rt)).open_circuits).toEqual(['whatsapp']);
    const skipped = await sendAndDrain(s);
    expect(whatsAppSends(s.whatsapp)).toHaveLength(3);
    expect(skipped.deliveries[0]).toMatchObject({ status: 'failed', error_code: 'circuit_open' });
  });

  it('permanent errors do not open the circuit', async () => {
    const s = await setup({ OTPGATE_PROVIDER_RETRIES: '0', OTPGATE_PROVIDER_BREAKER_FAILURES: '2' });
    s.whatsapp.script(whatsAppBehaviours.undeliverable(), whatsAppBehaviours.undeliverable(), whatsAppBehaviours.undeliverable());
    for (let i = 0; i < 3; i++) {
      const v = await sendAndDrain(s);
      expect(v.deliveries[0]).toMatchObject({ channel: 'whatsapp', status: 'failed', error_code: '131026' });
    }
    expect(whatsAppSends(s.whatsapp)).toHaveLength(3);
    expect((await readyz(s.rt)).status).toBe('ready');
    const ok = await sendAndDrain(s);
    expect(ok.deliveries.map((d) => [d.channel, d.status])).toEqual([['whatsapp', 'sent']]);
  });
});
