import { describe, expect, it } from 'vitest';
import { checkCode, createIntegration, request, sendCode, waitForCode } from './client.js';
import { startServer, useServers } from './server.js';

useServers();

describe('concurrent checks against a listening server', () => {
  it('50 parallel checks with the right code: exactly one 200, 49 × 404 not-found; the server stays healthy', async () => {
    const server = await startServer();
    const integration = await createIntegration(server, { policy: { limits: { check_per_minute: 1000 } } });
    const phone = '+5511987652222';

    const sent = await sendCode(server, integration.testKey, phone);
    expect(sent.status, sent.text).toBe(201);
    const code = await waitForCode(server, integration.testKey, phone, 5_000);

    const replies = await Promise.all(Array.from({ length: 50 }, () => checkCode(server, integration.testKey, phone, code)));
    const statuses = replies.map((r) => r.status);
    const approved = replies.filter((r) => r.status === 200);
    expect(approved, `statuses: ${JSON.stringify(statuses)}`).toHaveLength(1);
    expect(approved[0]?.body.status).toBe('approved');
    expect(approved[0]?.body.verification_id).toBe(sent.body.id);
    expect(approved[0]?.body.otp_session).toEqual(expect.any(String));

    const others = replies.filter((r) => r.status !== 200);
    expect(others).toHaveLength(49);
    for (const r of others) {
      expect(r.status, r.text).toBe(404);
      expect(r.contentType).toMatch(/^application\/problem\+json/);
      expect(r.body).toMatchObject({ type: 'not-found', status: 404 });
    }

    // The code is spent for good, and the process is still up and well.
    expect((await checkCode(server, integration.testKey, phone, code)).status).toBe(404);
    expect((await request(server, 'GET', '/healthz')).status).toBe(200);
    expect((await request(server, 'GET', '/readyz')).status).toBe(200);
    expect(server.process.exitCode).toBeNull();
    expect(server.stdout() + server.stderr()).not.toMatch(/"level":(50|60)/);
  });
});
