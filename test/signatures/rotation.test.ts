import { describe, expect, it } from 'vitest';
import { frozenClock } from '../helpers/clock.js';
import { admin, expectJson, expectProblem, phone, useRuntime } from '../routes/support.js';
import { createSignedIntegration, expectSignatureProblem, issueKey, nowSeconds, send, sendSigned, signature } from './support.js';

const runtime = useRuntime({ clock: frozenClock(Date.UTC(2026, 4, 1)) }); // shared by the tests: never moves
const SEND = '/v1/verifications';
const body = (): string => JSON.stringify({ identifier: phone() });

describe('signing secrets per key (rotation)', () => {
  it('checks each key against its own secret: both live keys work, then the revoked one stops', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app);
    const first = integration.test;
    const second = await issueKey(rt.app, integration.id, 'test');
    expect(second.secret).not.toBe(first.secret);
    const now = nowSeconds(rt);

    // Both keys, each with its own secret.
    expectJson(await sendSigned(rt.app, first.secret, now, { key: first.key, method: 'POST', url: SEND, body: body() }), 201);
    expectJson(await sendSigned(rt.app, second.secret, now, { key: second.key, method: 'POST', url: SEND, body: body() }), 201);
    expectJson(await sendSigned(rt.app, second.secret, now, { key: second.key, method: 'GET', url: '/v1/policy' }), 200);

    // A key with the other key's secret is refused.
    expectSignatureProblem(await sendSigned(rt.app, second.secret, now, { key: first.key, method: 'POST', url: SEND, body: body() }), /does not match/);
    expectSignatureProblem(await sendSigned(rt.app, first.secret, now, { key: second.key, method: 'POST', url: SEND, body: body() }), /does not match/);

    // A client unsure which secret applies may send both signatures; the right one counts.
    const payload = body();
    const both = `v1=${signature(second.secret, now, 'POST', SEND, payload).slice(3)},v1=${signature(first.secret, now, 'POST', SEND, payload).slice(3)}`;
    expectJson(await send(rt.app, { key: first.key, method: 'POST', url: SEND, body: payload, headers: { 'x-timestamp': String(now), 'x-signature': both } }), 201);

    // Revoke the first key: its requests (so its secret) stop working; the second key carries on.
    expect((await admin(rt.app).delete(`/admin/v1/integrations/${integration.id}/keys/${first.id}`)).statusCode).toBe(200);
    expectProblem(await sendSigned(rt.app, first.secret, now, { key: first.key, method: 'POST', url: SEND, body: body() }), 401, 'invalid-api-key');
    expectProblem(await sendSigned(rt.app, second.secret, now, { key: first.key, method: 'POST', url: SEND, body: body() }), 401, 'invalid-api-key');
    expectSignatureProblem(await sendSigned(rt.app, first.secret, now, { key: second.key, method: 'POST', url: SEND, body: body() }), /does not match/);
    expectJson(await sendSigned(rt.app, second.secret, now, { key: second.key, method: 'POST', url: SEND, body: body() }), 201);
  });

  it('keeps test and live secrets apart', async () => {
    const rt = runtime();
    const { test, live } = await createSignedIntegration(rt.app);
    const now = nowSeconds(rt);
    expectSignatureProblem(await sendSigned(rt.app, test.secret, now, { key: live.key, method: 'GET', url: '/v1/policy' }), /does not match/);
    expectJson(await sendSigned(rt.app, live.secret, now, { key: live.key, method: 'GET', url: '/v1/policy' }), 200);
  });
});
