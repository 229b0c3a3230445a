import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/domain/clock.js';
import { api, createIntegration, startRuntime } from '../helpers/runtime.js';
import { admin, expectJson, expectProblem, phone, sandboxMessages, useRuntime, type VerificationBody } from './support.js';

const runtime = useRuntime();
const SEND = '/v1/verifications';

describe('Idempotency-Key', () => {
  it('replays the first response for the same key and body, creating one verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'order-1001' };
    const first = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    const created = expectJson<VerificationBody>(first, 201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    const again = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers['content-type']).toMatch(/^application\/json/);
    expect(again.json()).toEqual(first.json());

    expect(await rt.worker.drain()).toBe(1);
    const messages = await sandboxMessages(rt, integration.testKey, to);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.verification_id).toBe(created.id);
    // The verification was not superseded by the replay.
    expect(expectJson<VerificationBody>(await api(rt.app, integration.testKey).get(`/v1/verifications/${created.id}`), 200).status).toBe('pending');
  });

  it('replays a 4xx answer too', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const headers = { 'idempotency-key': 'cpf-1' };
    const first = await api(rt.app, integration.testKey).post(SEND, { identifier: '529.982.247-25' }, headers);
    expectProblem(first, 422, 'no-delivery-address');
    const again = await api(rt.app, integration.testKey).post(SEND, { identifier: '529.982.247-25' }, headers);
    expectProblem(again, 422, 'no-delivery-address');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
  });

  it('answers 422 idempotency-key-reused for the same key with another body', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const headers = { 'idempotency-key': 'order-1002' };
    expectJson(await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, headers), 201);
    const other = await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, headers);
    expectProblem(other, 422, 'idempotency-key-reused');
    expect(await rt.worker.drain()).toBe(1);
  });

  it('answers 422 idempotency-key-reused for the same key on another route', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'shared-key' };
    const v = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 201);
    expectProblem(await api(rt.app, integration.testKey).post(`/v1/verifications/${v.id}/cancel`, {}, headers), 422, 'idempotency-key-reused');
    expect(expectJson<VerificationBody>(await api(rt.app, integration.testKey).get(`/v1/verifications/${v.id}`), 200).status).toBe('pending');
  });

  it('scopes keys to the integration', async () => {
    const rt = runtime();
    const a = await createIntegration(rt.app);
    const b = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'same-key' };
    const first = expectJson<VerificationBody>(await api(rt.app, a.testKey).post(SEND, { identifier: to }, headers), 201);
    const res = await api(rt.app, b.testKey).post(SEND, { identifier: to }, headers);
    const second = expectJson<VerificationBody>(res, 201);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    expect(second.id).not.toBe(first.id);
    expect(await sandboxMessages(rt, a.testKey, to)).toHaveLength(1);
    expect(await sandboxMessages(rt, b.testKey, to)).toHaveLength(1);
  });

  it('scopes keys to the mode', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'mode-key' };
    expectJson(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 201);
    // Live mode has no provider here: its own answer, not the test mode's 201.
    const live = await api(rt.app, integration.liveKey).post(SEND, { identifier: to }, headers);
    expectProblem(live, 422, 'channel-unavailable');
    expect(live.headers['idempotent-replayed']).toBeUndefined();
  });

  it('replays operator POSTs', async () => {
    const rt = runtime();
    const headers = { 'idempotency-key': 'create-acme' };
    const name = `Idempotent ${phone()}`;
    const first = await admin(rt.app).post('/admin/v1/integrations', { name }, headers);
    const created = expectJson<{ id: string; keys: { test: { key: string }; live: { key: string } } }>(first, 201);
    const again = await admin(rt.app).post('/admin/v1/integrations', { name }, headers);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    // The same answer, except the secrets: shown once (see withoutSecrets in the idempotency plugin).
    const hidden = { key: '[shown once]', signing_secret: '[shown once]' };
    expect(again.json()).toEqual({ ...created, keys: { test: { ...created.keys.test, ...hidden }, live: { ...created.keys.live, ...hidden } } });
    const list = expectJson<{ data: { id: string; name: string }[] }>(await admin(rt.app).get('/admin/v1/integrations?limit=100'), 200);
    expect(list.data.filter((i) => i.name === name)).toHaveLength(1);
    expectProblem(await admin(rt.app).post('/admin/v1/integrations', { name: `${name} 2` }, headers), 422, 'idempotency-key-reused');
  });

  it('does not replay a 429: the same key succeeds once the limit allows it', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 1 } } });
    const to = phone();
    expectJson(await api(rt.app, integration.testKey).post(SEND, { identifier: to }), 201);
    const headers = { 'idempotency-key': 'retry-after-429' };
    const limited = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expectProblem(limited, 429, 'rate-limit-exceeded');

    expectJson(await admin(rt.app).patch(`/admin/v1/integrations/${integration.id}`, { policy: { limits: { send_per_minute: 10 } } }), 200);
    const retried = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expectJson<VerificationBody>(retried, 201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    // From now on the 201 is what the key replays.
    const replay = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.json()).toEqual(retried.json());
  });

  it('lets only one of two concurrent identical requests run', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const headers = { 'idempotency-key': 'concurrent-1' };
    const responses = await Promise.all([
      api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers),
      api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers),
    ]);
    const fresh = responses.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined);
    expect(fresh).toHaveLength(1);
    const [other] = responses.filter((r) => r !== fresh[0]);
    if (other?.statusCode === 409) {
      expectProblem(other, 409, 'idempotency-conflict');
    } else {
      expect(other?.statusCode).toBe(201);
      expect(other?.headers['idempotent-replayed']).toBe('true');
      expect(other?.json()).toEqual(fresh[0]?.json());
    }
    expect(await rt.worker.drain()).toBe(1);
    expect(await sandboxMessages(rt, integration.testKey, to)).toHaveLength(1);
  });

  it('many concurrent identical requests still create one verification', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 100 } } });
    const to = phone();
    const headers = { 'idempotency-key': 'concurrent-many' };
    const responses = await Promise.all(Array.from({ length: 10 }, () => api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers)));
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    expect(responses.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(await rt.worker.drain()).toBe(1);
  });

  it('refuses a malformed Idempotency-Key with 400', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const res = await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, { 'idempotency-key': 'x'.repeat(256) });
    expectProblem(res, 400, 'validation-error');
    expect(await rt.worker.drain()).toBe(0);
  });

  it('is shared by the keys of one integration and mode', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const second = expectJson<{ key: string }>(await admin(rt.app).post(`/admin/v1/integrations/${integration.id}/keys`, { mode: 'test' }), 201);
    const to = phone();
    const headers = { 'idempotency-key': 'rotated' };
    const first = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
    expectJson(first, 201);
    const again = await api(rt.app, second.key).post(SEND, { identifier: to }, headers);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await rt.worker.drain()).toBe(1);
  });

  it('does not record a request refused by schema validation', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const headers = { 'idempotency-key': 'fix-the-typo' };
    expectProblem(await api(rt.app, integration.testKey).post(SEND, { identifer: phone() }, headers), 400, 'validation-error');
    const res = await api(rt.app, integration.testKey).post(SEND, { identifier: phone() }, headers);
    expectJson(res, 201);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  });

  it('forgets a key after 24 hours', async () => {
    const clock = new ManualClock(Date.UTC(2026, 6, 1));
    const rt = await startRuntime({ clock });
    try {
      const integration = await createIntegration(rt.app);
      const to = phone();
      const headers = { 'idempotency-key': 'daily' };
      const first = expectJson<VerificationBody>(await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers), 201);
      clock.advance(23 * 3600_000);
      const replay = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect((replay.json() as VerificationBody).id).toBe(first.id);
      clock.advance(3600_000 + 1000);
      const fresh = await api(rt.app, integration.testKey).post(SEND, { identifier: to }, headers);
      expect(fresh.headers['idempotent-replayed']).toBeUndefined();
      expect(expectJson<VerificationBody>(fresh, 201).id).not.toBe(first.id);
    } finally {
      await rt.dispose();
    }
  });
});
