import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createIntegration, pollUntil, request, sendCode, sleep } from '../e2e/client.js';
import { makeDataDir, randomAdminToken, startServer, useServers } from '../e2e/server.js';
import { signatureHeaders, startReceiver } from './support.js';

useServers();

/** Black box: the built server as a child process, SIGKILLed with webhook deliveries pending. */
describe('webhooks across a SIGKILL', () => {
  it('deliveries pending when the server is killed are sent after the restart, once each by webhook-id', async () => {
    let answer = 503;
    const answered: { id: string; status: number }[] = [];
    const receiver = await startReceiver((req, res) => {
      answered.push({ id: String(req.headers['webhook-id']), status: answer });
      res.writeHead(answer).end();
    });
    try {
      const dataDir = makeDataDir();
      const adminToken = randomAdminToken();
      const env = { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1', OTPGATE_WEBHOOK_TIMEOUT_MS: '2000' };
      const first = await startServer({ dataDir, adminToken, env });
      expect(first.stdout() + first.stderr()).toMatch(/OTPGATE_WEBHOOK_ALLOW_INSECURE=1/);
      const integration = await createIntegration(first);
      const hook = await request(first, 'PATCH', '/v1/webhook', { key: integration.testKey, json: { url: receiver.url } });
      expect(hook.status, hook.text).toBe(200);
      const secret = (hook.body as { secret: string }).secret;

      for (let i = 0; i < 5; i++) expect((await sendCode(first, integration.testKey, `+55119876520${i}0`)).status).toBe(201);
      // Every delivery attempted once and refused (503): all pending, the next attempt ~5 s later.
      const listed = async (server: typeof first) =>
        ((await request(server, 'GET', '/v1/webhook/deliveries?limit=100', { key: integration.testKey })).body as { data: { event_id: string; status: string; attempts: number }[] }).data;
      const before = await pollUntil(() => listed(first), (d) => d.length >= 5 && d.every((x) => x.attempts >= 1), 10_000);
      expect(before.length).toBeGreaterThanOrEqual(5);
      expect(before.every((d) => d.status === 'pending')).toBe(true);
      const eventIds = before.map((d) => d.event_id).sort();

      expect((await first.kill()).signal).toBe('SIGKILL');
      const refusedBefore = answered.length;
      answer = 200;

      const second = await startServer({ dataDir, adminToken, env });
      const after = await pollUntil(() => listed(second), (d) => d.length === eventIds.length && d.every((x) => x.status === 'succeeded'), 20_000);
      expect(after.map((d) => d.status)).toEqual(eventIds.map(() => 'succeeded'));
      await sleep(1_000); // nothing more arrives

      const afterRestart = answered.slice(refusedBefore);
      expect(afterRestart.every((a) => a.status === 200)).toBe(true);
      expect(afterRestart.map((a) => a.id).sort(), 'each event once after the restart').toEqual(eventIds);
      // Accepted (2xx) exactly once per webhook-id overall, and every request verifies.
      expect(answered.filter((a) => a.status === 200).map((a) => a.id).sort()).toEqual(eventIds);
      const wh = new Webhook(secret);
      for (const r of receiver.received) wh.verify(r.body, signatureHeaders(r));
    } finally {
      await receiver.close();
    }
  }, 90_000);
});
