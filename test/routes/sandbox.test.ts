import { describe, expect, it } from 'vitest';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { api, createIntegration } from '../helpers/runtime.js';
import { codeOf, email, expectJson, expectProblem, phone, send, useRuntime, type SandboxMessage } from './support.js';

const START = Date.UTC(2026, 4, 1, 10);
// Shared by the tests, so its clock never moves; a test that moves time builds its own runtime.
const runtime = useRuntime({ clock: frozenClock(START) });

interface Page {
  data: SandboxMessage[];
  next_cursor: string | null;
}

describe('GET /v1/sandbox/messages', () => {
  it('lists captured messages newest first, filtered by recipient', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const integration = await createIntegration(rt.app, { name: 'Brand' });
    const a = phone();
    const b = email();
    const ids: string[] = [];
    for (const to of [a, b, a]) {
      clock.advance(1000);
      ids.push((await send(rt.app, integration.testKey, { identifier: to, channel: to === a ? 'sms' : 'auto' })).id);
      await rt.worker.drain();
    }
    const all = expectJson<Page>(await api(rt.app, integration.testKey).get('/v1/sandbox/messages'), 200);
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((m) => m.verification_id)).toEqual([...ids].reverse());
    const [latest] = all.data;
    expect(latest).toMatchObject({ to: a, channel: 'sms', subject: null, received_at: new Date(clock.now()).toISOString() });
    expect(latest?.body).toContain('Brand');

    const forA = expectJson<Page>(await api(rt.app, integration.testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(a)}`), 200);
    expect(forA.data.map((m) => m.verification_id)).toEqual([ids[2], ids[0]]);
    // The filter takes the identifier in any accepted form.
    const formatted = `+55 11 ${a.slice(5, 10)}-${a.slice(10)}`;
    const forAFormatted = expectJson<Page>(await api(rt.app, integration.testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(formatted)}`), 200);
    expect(forAFormatted.data.map((m) => m.id)).toEqual(forA.data.map((m) => m.id));

    const forB = expectJson<Page>(await api(rt.app, integration.testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(b)}`), 200);
    expect(forB.data).toHaveLength(1);
    expect(forB.data[0]).toMatchObject({ to: b, channel: 'email', verification_id: ids[1] });
    expect(forB.data[0]?.subject).toContain('Brand');
  });

  it('pages with limit and cursor', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 10 } } });
    const to = phone();
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await send(rt.app, integration.testKey, { identifier: to });
      await rt.worker.drain();
    }
    const all = expectJson<Page>(await api(rt.app, integration.testKey).get('/v1/sandbox/messages'), 200).data.map((m) => m.id);
    expect(all).toHaveLength(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/sandbox/messages?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = expectJson<Page>(await api(rt.app, integration.testKey).get(url), 200);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((m) => m.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(all);
  });

  it('shows nothing of another integration', async () => {
    const rt = runtime();
    const a = await createIntegration(rt.app);
    const b = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, a.testKey, { identifier: to });
    expect(await codeOf(rt, a.testKey, v.id)).toMatch(/^\d{6}$/);
    expect(expectJson<Page>(await api(rt.app, b.testKey).get(`/v1/sandbox/messages?to=${encodeURIComponent(to)}`), 200).data).toEqual([]);
    expect(expectJson<Page>(await api(rt.app, b.testKey).get('/v1/sandbox/messages'), 200).data).toEqual([]);
  });

  it('answers 400 for an invalid recipient, cursor or limit', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const key = integration.testKey;
    expect(expectProblem(await api(rt.app, key).get('/v1/sandbox/messages?to=nobody'), 400, 'validation-error').errors).toHaveProperty('to');
    expectProblem(await api(rt.app, key).get('/v1/sandbox/messages?cursor=%%%'), 400, 'validation-error');
    expectProblem(await api(rt.app, key).get('/v1/sandbox/messages?limit=0'), 400, 'validation-error');
    expectProblem(await api(rt.app, key).get('/v1/sandbox/messages?limit=101'), 400, 'validation-error');
    expectProblem(await api(rt.app, key).get('/v1/sandbox/messages?colour=blue'), 400, 'validation-error');
  });

  it('answers 403 test-mode-only for live keys', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await api(rt.app, integration.liveKey).get('/v1/sandbox/messages'), 403, 'test-mode-only');
  });

  it('answers 401 without a key', async () => {
    expectProblem(await runtime().app.inject({ method: 'GET', url: '/v1/sandbox/messages' }), 401, 'invalid-api-key');
  });
});
