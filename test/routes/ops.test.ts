import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, api, createIntegration } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, phone, sendAndCapture, useRuntime, wrongCode } from './support.js';

const runtime = useRuntime();

/** The value of one Prometheus sample with (at least) these labels, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('operations endpoints', () => {
  it('GET /healthz answers 200 without auth', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/healthz' });
    expect(expectJson<{ status: string }>(res, 200).status).toBe('ok');
  });

  it('GET /readyz answers 200 with the database checked', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/readyz' });
    expect(expectJson<{ status: string; checks: { database: string } }>(res, 200)).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
  });

  it('GET /metrics needs the admin token', async () => {
    const rt = runtime();
    expectProblem(await rt.app.inject({ method: 'GET', url: '/metrics' }), 401, 'invalid-api-key');
    expectProblem(await admin(rt.app, 'not-the-admin-token-at-all').get('/metrics'), 401, 'invalid-api-key');
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.testKey).get('/metrics'), 401, 'invalid-api-key');
  });

  it('GET /metrics counts sends and checks', async () => {
    const rt = runtime();
    const read = async () => {
      const res = await rt.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      return res.body;
    };
    const before = await read();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const { code } = await sendAndCapture(rt, integration.testKey, { identifier: to, channel: 'sms' });
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: wrongCode(code) }), 401, 'invalid-code');
    expectJson(await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code }), 200);
    const after = await read();

    expect(after).toContain('otpgate_sends_total');
    expect(after).toContain('otpgate_checks_total');
    const delta = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('otpgate_sends_total', { channel: 'sms', mode: 'test' })).toBe(1);
    expect(delta('otpgate_checks_total', { outcome: 'approved', mode: 'test' })).toBe(1);
    expect(delta('otpgate_checks_total', { outcome: 'invalid_code', mode: 'test' })).toBe(1);
  });

  it('GET /openapi.json describes the verification routes', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/openapi.json' });
    const doc = expectJson<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res, 200);
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths).toHaveProperty('/v1/verifications');
    expect(doc.paths).toHaveProperty('/v1/verifications/check');
    expect(doc.paths['/v1/verifications']).toHaveProperty('post');
    expect(doc.paths['/v1/verifications/check']).toHaveProperty('post');
    expect(doc.paths).toHaveProperty('/v1/policy');
  });

  it('GET /docs serves the API docs UI', async () => {
    const rt = runtime();
    let res = await rt.app.inject({ method: 'GET', url: '/docs' });
    if (res.statusCode >= 300 && res.statusCode < 400) {
      const location = String(res.headers.location);
      expect(location).toMatch(/docs/);
      res = await rt.app.inject({ method: 'GET', url: new URL(location, 'http://localhost/docs/').pathname });
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });

  it('answers every response with an x-request-id', async () => {
    const res = await runtime().app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers['x-request-id']).toBe('trace-123');
  });
});
