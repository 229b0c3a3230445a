import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { phone } from '../routes/support.js';
import { hooks, startReceiver, stubLookup, type Receiver } from './support.js';

/**
 * The SSRF rule for webhook URLs with the guard on (no OTPGATE_WEBHOOK_ALLOW_INSECURE): refused when
 * saved (422 invalid-webhook-url, `detail` saying why), and refused again when connecting, on the
 * address the name resolves to then (DNS rebinding). The address classification itself is tested
 * in src/net/url-guard.test.ts; these are the webhook API's answers.
 */
describe('webhook URLs: SSRF guard', () => {
  let rt: TestRuntime;
  let integration: TestIntegration;
  let receiver: Receiver;

  beforeAll(async () => {
    rt = await startRuntime({
      // Save-time names: a public one, one that resolves to a private address, and one that
      // resolves public when saved and to 127.0.0.1 when connecting (DNS rebinding).
      webhookLookup: stubLookup({ 'hooks.example.com': ['93.184.216.34'], 'internal.example.com': ['10.0.0.5'], 'rebind.example.com': ['93.184.216.34'] }),
      webhookConnectLookup: stubLookup({ 'rebind.example.com': ['127.0.0.1'] }),
    });
    integration = await createIntegration(rt.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await rt.dispose();
  });

  const refused: [string, RegExp][] = [
    ['http://hooks.example.com/hook', /must use https/],
    ['https://127.0.0.1/hook', /loopback/],
    ['https://10.0.0.1/hook', /private/],
    ['https://[::1]/hook', /loopback/],
    ['https://[::ffff:7f00:1]/hook', /IPv4-mapped.*loopback/],
    ['https://2130706433/hook', /127\.0\.0\.1.*loopback/],
    ['https://0x7f.1/hook', /127\.0\.0\.1.*loopback/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://localhost./hook', /loopback/],
    ['https://api.localhost/hook', /loopback/],
    ['https://internal.example.com/hook', /internal\.example\.com.*10\.0\.0\.5.*private/],
  ];

  it.each(refused)('refuses %s with 422 invalid-webhook-url and says why', async (url, why) => {
    const h = hooks(rt.app, integration.testKey);
    const res = await h.patch({ url });
    expect(res.statusCode).toBe(422);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body.type).toBe('invalid-webhook-url');
    expect(body.detail).toMatch(why);
    expect((await h.get()).statusCode).toBe(404); // nothing saved
  });

  it('accepts an https URL whose host resolves to public addresses', async () => {
    const res = await hooks(rt.app, integration.liveKey).patch({ url: 'https://hooks.example.com/otpgate' });
    expect(res.statusCode).toBe(200);
    await hooks(rt.app, integration.liveKey).delete();
  });

  it('refuses, when connecting, a name that resolved public when saved and private now (DNS rebinding): nothing is sent', async () => {
    const port = new URL(receiver.url).port;
    const h = hooks(rt.app, integration.testKey);
    const saved = await h.patch({ url: `https://rebind.example.com:${port}/hook` }); // public when saved
    expect(saved.statusCode).toBe(200);

    const test = await h.test();
    expect(test.statusCode).toBe(200);
    expect(test.json()).toMatchObject({ delivered: false, status: null });
    expect(test.json().error).toMatch(/^blocked: .*rebind\.example\.com.*127\.0\.0\.1.*loopback/);

    // An event's delivery too: attempted, blocked, scheduled again; the receiver never hears of it.
    await api(rt.app, integration.testKey).post('/v1/verifications', { identifier: phone() });
    await rt.worker.drain();
    await rt.webhooks.drain();
    const [delivery] = (await h.deliveries()).json().data;
    expect(delivery).toMatchObject({ event_type: 'verification.delivered', status: 'pending', attempts: 1, response_status: null });
    expect(delivery.error).toMatch(/^blocked: /);
    expect(receiver.received).toHaveLength(0);
  });

  it('warns at start when OTPGATE_WEBHOOK_ALLOW_INSECURE lifts the guard, and not otherwise', async () => {
    const start = async (env: Record<string, string>): Promise<string> => {
      let logged = '';
      const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((logged += chunk.toString()), done()) });
      const other = await startRuntime({ env, logger: pino({ level: 'warn' }, sink) });
      await other.dispose();
      return logged;
    };
    expect(await start({ OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' })).toMatch(/OTPGATE_WEBHOOK_ALLOW_INSECURE=1.*SSRF guard off/);
    expect(await start({})).not.toMatch(/OTPGATE_WEBHOOK_ALLOW_INSECURE/);
  });
});
