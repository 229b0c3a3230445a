/** `GET /admin/v1/stats`: sends, deliveries, approvals and conversion per integration, mode, channel and country over a window. */
import { describe, expect, it } from 'vitest';
import { api, createIntegration } from '../helpers/runtime.js';
import { admin, codeOf, email, expectJson, expectProblem, phone, send, useRuntime, usPhone } from '../routes/support.js';

interface Row {
  integration_id: string;
  mode: string;
  channel: string;
  country: string | null;
  sends: number;
  deliveries: number;
  approvals: number;
  conversion_rate: number;
}
interface Stats {
  from: string;
  to: string;
  data: Row[];
  totals: Omit<Row, 'integration_id' | 'mode' | 'channel' | 'country'>;
}

const runtime = useRuntime();

describe('GET /admin/v1/stats', () => {
  it('counts per integration, mode, channel and country, with the conversion rate', async () => {
    const rt = runtime();
    const i = await createIntegration(rt.app, { name: 'Stats', policy: { limits: { send_per_minute: 100 } } });
    const other = await createIntegration(rt.app, { name: 'Other' });
    const approve = async (identifier: string) => {
      const v = await send(rt.app, i.testKey, { identifier });
      const code = await codeOf(rt, i.testKey, v.id);
      expectJson(await api(rt.app, i.testKey).post('/v1/verifications/check', { identifier, code }), 200);
    };
    await approve(phone());
    await approve(phone());
    await send(rt.app, i.testKey, { identifier: phone() });
    await approve(usPhone());
    await send(rt.app, i.testKey, { identifier: email() });
    await send(rt.app, other.testKey, { identifier: phone() });
    await rt.worker.drain();

    const from = new Date(Date.now() - 3_600_000).toISOString();
    const stats = expectJson<Stats>(await admin(rt.app).get(`/admin/v1/stats?from=${from}&integration_id=${i.id}`), 200);
    const row = (channel: string, country: string | null) => stats.data.find((r) => r.channel === channel && r.country === country);
    expect(row('whatsapp', 'BR')).toEqual({ integration_id: i.id, mode: 'test', channel: 'whatsapp', country: 'BR', sends: 3, deliveries: 3, approvals: 2, conversion_rate: 0.6667 });
    expect(row('whatsapp', 'US')).toMatchObject({ sends: 1, approvals: 1, conversion_rate: 1 });
    expect(row('email', null)).toMatchObject({ sends: 1, deliveries: 1, approvals: 0, conversion_rate: 0 });
    expect(stats.data.every((r) => r.integration_id === i.id)).toBe(true);
    expect(stats.totals).toEqual({ sends: 5, deliveries: 5, approvals: 3, conversion_rate: 0.6 });

    // Every integration without the filter; none in live mode; none in a window before them.
    const all = expectJson<Stats>(await admin(rt.app).get(`/admin/v1/stats?from=${from}`), 200);
    expect(all.data.some((r) => r.integration_id === other.id)).toBe(true);
    expect(expectJson<Stats>(await admin(rt.app).get(`/admin/v1/stats?from=${from}&mode=live&integration_id=${i.id}`), 200).data).toEqual([]);
    const earlier = expectJson<Stats>(await admin(rt.app).get(`/admin/v1/stats?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z`), 200);
    expect(earlier).toEqual({ from: '2020-01-01T00:00:00.000Z', to: '2020-01-02T00:00:00.000Z', data: [], totals: { sends: 0, deliveries: 0, approvals: 0, conversion_rate: 0 } });
  });

  it('refuses a bad window (400) and answers only the operator (401)', async () => {
    const rt = runtime();
    expectProblem(await admin(rt.app).get('/admin/v1/stats?from=yesterday'), 400, 'validation-error');
    expectProblem(await admin(rt.app).get('/admin/v1/stats?from=2026-01-01'), 400, 'validation-error');
    expectProblem(await admin(rt.app).get('/admin/v1/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z'), 400, 'validation-error');
    expectProblem(await admin(rt.app).get('/admin/v1/stats?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'), 400, 'validation-error');
    expectProblem(await admin(rt.app).get('/admin/v1/stats?mode=both'), 400, 'validation-error');
    expectProblem(await admin(rt.app).get('/admin/v1/stats?surprise=1'), 400, 'validation-error');
    expectProblem(await rt.app.inject({ method: 'GET', url: '/admin/v1/stats' }), 401, 'invalid-api-key');
    const i = await createIntegration(rt.app);
    expectProblem(await api(rt.app, i.liveKey).get('/admin/v1/stats'), 401, 'invalid-api-key');
  });
});
