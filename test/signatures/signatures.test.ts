import { describe, expect, it } from 'vitest';
import { frozenClock, runtimeWithClock } from '../helpers/clock.js';
import { ADMIN_TOKEN } from '../helpers/runtime.js';
import { expectJson, phone, useRuntime, type VerificationBody } from '../routes/support.js';
import { createSignedIntegration, expectSignatureProblem, nowSeconds, send, sendSigned, signature, verificationCount } from './support.js';

const START = Date.UTC(2026, 2, 1, 12, 0, 0);
// Shared by the tests, so its clock never moves; the test that moves time builds its own runtime.
const runtime = useRuntime({ clock: frozenClock(START) });
const SEND = '/v1/verifications';
const body = (identifier: string): string => JSON.stringify({ identifier, action: 'sign_in' });

describe('signed requests (policy requires them)', () => {
  it('accepts a signed POST, a signed GET with a query string, and a signed bodiless POST', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app);
    const { key, secret } = integration.test;
    const to = phone();
    const now = nowSeconds(rt);

    const created = expectJson<VerificationBody>(await sendSigned(rt.app, secret, now, { key, method: 'POST', url: SEND, body: body(to) }), 201);
    expect(created.identifier).toBe(to);

    await rt.worker.drain();
    const url = `/v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`;
    const listed = expectJson<{ data: { code: string; verification_id: string }[] }>(await sendSigned(rt.app, secret, now, { key, method: 'GET', url }), 200);
    expect(listed.data[0]?.verification_id).toBe(created.id);

    const read = expectJson<VerificationBody>(await sendSigned(rt.app, secret, now, { key, method: 'GET', url: `${SEND}/${created.id}` }), 200);
    expect(read.status).toBe('pending');

    // No body and no content type: the body hash is SHA-256 of "".
    const canceled = expectJson<VerificationBody>(await sendSigned(rt.app, secret, now, { key, method: 'POST', url: `${SEND}/${created.id}/cancel` }), 200);
    expect(canceled.status).toBe('canceled');
  });

  it('accepts timestamps at the edges of the ±300 s window', async () => {
    const rt = runtime();
    const { test } = await createSignedIntegration(rt.app);
    const now = nowSeconds(rt);
    expectJson(await sendSigned(rt.app, test.secret, now - 300, { key: test.key, method: 'POST', url: SEND, body: body(phone()) }), 201);
    expectJson(await sendSigned(rt.app, test.secret, now + 300, { key: test.key, method: 'POST', url: SEND, body: body(phone()) }), 201);
  });

  it('checks a code with a signed request', async () => {
    const rt = runtime();
    const { test } = await createSignedIntegration(rt.app);
    const to = phone();
    const now = nowSeconds(rt);
    expectJson(await sendSigned(rt.app, test.secret, now, { key: test.key, method: 'POST', url: SEND, body: body(to) }), 201);
    await rt.worker.drain();
    const url = `/v1/sandbox/messages?to=${encodeURIComponent(to)}`;
    const code = expectJson<{ data: { code: string }[] }>(await sendSigned(rt.app, test.secret, now, { key: test.key, method: 'GET', url }), 200).data[0]?.code;
    expect(code).toMatch(/^\d+$/);
    const checked = await sendSigned(rt.app, test.secret, now, { key: test.key, method: 'POST', url: `${SEND}/check`, body: JSON.stringify({ identifier: to, code }) });
    expect(expectJson<{ status: string }>(checked, 200).status).toBe('approved');
  });

  it('refuses every bad signature with 401 invalid-signature, a distinct detail, and stores nothing', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app);
    const other = await createSignedIntegration(rt.app);
    const { key, secret } = integration.test;
    const now = nowSeconds(rt);
    const to = phone();
    const payload = body(to);
    const good = signature(secret, now, 'POST', SEND, payload);
    const post = (headers: Record<string, string>, url = SEND, text = payload) => send(rt.app, { key, method: 'POST', url, body: text, headers });
    const details = new Map<string, string>();
    const refused = async (name: string, res: Awaited<ReturnType<typeof post>>, detail: RegExp) => {
      const text = expectSignatureProblem(res, detail);
      expect(text, 'the detail never shows the expected value').not.toContain(good.slice(3));
      const previous = details.get(name);
      if (previous !== undefined) expect(text).toBe(previous);
      details.set(name, text);
    };

    // Missing parts (unsigned while the policy requires signing).
    await refused('missing timestamp', await post({}), /X-Timestamp is missing/);
    await refused('missing timestamp', await post({ 'x-signature': good }), /X-Timestamp is missing/);
    await refused('missing signature', await post({ 'x-timestamp': String(now) }), /X-Signature is missing/);
    await refused('missing signature', await post({ 'x-timestamp': String(now), 'x-signature': '' }), /X-Signature is missing/);

    // Malformed headers.
    for (const ts of ['abc', '1.5', '-5', '2026-03-01T12:00:00Z', '0x69', '1e9', `${now} ${now}`]) {
      await refused('malformed timestamp', await post({ 'x-timestamp': ts, 'x-signature': good }), /X-Timestamp is malformed/);
    }
    for (const sig of ['abc', good.slice(3), 'v1=xyz', `${good.slice(0, -1)}`, `${good}0`, `sha256=${good.slice(3)}`, 'v1=', `v1 = ${good.slice(3)}`, 'v2=abcd', ',,,', good.toUpperCase()]) {
      await refused('malformed signature', await post({ 'x-timestamp': String(now), 'x-signature': sig }), /X-Signature is malformed/);
    }

    // Outside the window.
    const stale = now - 301;
    await refused('stale', await post({ 'x-timestamp': String(stale), 'x-signature': signature(secret, stale, 'POST', SEND, payload) }), /stale/);
    const future = now + 301;
    await refused('future', await post({ 'x-timestamp': String(future), 'x-signature': signature(secret, future, 'POST', SEND, payload) }), /in the future/);

    // Signed over something else than what is sent.
    const mismatch = /does not match/;
    const ts = { 'x-timestamp': String(now) };
    await refused('mismatch', await post({ ...ts, 'x-signature': good }, SEND, body(phone())), mismatch); // tampered body
    await refused('mismatch', await post({ ...ts, 'x-signature': good }, SEND, `${payload} `), mismatch); // one byte more
    await refused('mismatch', await post({ ...ts, 'x-signature': signature(secret, now, 'POST', `${SEND}/check`, payload) }), mismatch); // tampered path
    await refused('mismatch', await post({ ...ts, 'x-signature': good }, `${SEND}?trace=1`), mismatch); // tampered query
    await refused('mismatch', await post({ ...ts, 'x-signature': signature(secret, now, 'PATCH', SEND, payload) }), mismatch); // other method
    await refused('mismatch', await post({ 'x-timestamp': String(now + 1), 'x-signature': good }), mismatch); // other timestamp
    await refused('mismatch', await post({ ...ts, 'x-signature': signature('otpg_sig_wrong', now, 'POST', SEND, payload) }), mismatch); // wrong secret
    await refused('mismatch', await post({ ...ts, 'x-signature': signature(integration.live.secret, now, 'POST', SEND, payload) }), mismatch); // the live key's secret
    await refused('mismatch', await post({ ...ts, 'x-signature': signature(other.test.secret, now, 'POST', SEND, payload) }), mismatch); // another integration's

    expect(await verificationCount(rt, integration.id)).toBe(0);
    expect(await rt.worker.drain()).toBe(0);

    // The untampered request goes through once; the same headers again are a replay.
    expectJson(await post({ ...ts, 'x-signature': good }), 201);
    await refused('replay', await post({ ...ts, 'x-signature': good }), /already used/);
    // The same signature in upper-case hex, or listed beside another value, is the same signature.
    await refused('replay', await post({ ...ts, 'x-signature': `v1=${good.slice(3).toUpperCase()}` }), /already used/);
    await refused('replay', await post({ ...ts, 'x-signature': `v1=${'0'.repeat(64)}, ${good}` }), /already used/);
    expect(await verificationCount(rt, integration.id)).toBe(1);

    expect([...details.keys()].sort()).toEqual(['future', 'malformed signature', 'malformed timestamp', 'mismatch', 'missing signature', 'missing timestamp', 'replay', 'stale']);
    expect(new Set(details.values()).size).toBe(details.size);
  });

  it('refuses a tampered query on a GET', async () => {
    const rt = runtime();
    const { test } = await createSignedIntegration(rt.app);
    const now = nowSeconds(rt);
    const signed = `/v1/sandbox/messages?to=${encodeURIComponent(phone())}&limit=1`;
    const sig = signature(test.secret, now, 'GET', signed);
    const headers = { 'x-timestamp': String(now), 'x-signature': sig };
    for (const url of [`/v1/sandbox/messages?to=${encodeURIComponent(phone())}&limit=1`, signed.replace('limit=1', 'limit=2'), signed.replace('%2B', '+'), '/v1/sandbox/messages']) {
      expectSignatureProblem(await send(rt.app, { key: test.key, method: 'GET', url, headers }), /does not match/);
    }
    expectJson(await send(rt.app, { key: test.key, method: 'GET', url: signed, headers }), 200);
  });

  it('checks the signature before Idempotency-Key: a replayed signature is refused, a fresh one replays', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app);
    const { key, secret } = integration.test;
    const now = nowSeconds(rt);
    const payload = body(phone());
    const idem = { 'idempotency-key': 'order-7' };
    const first = await sendSigned(rt.app, secret, now, { key, method: 'POST', url: SEND, body: payload, headers: idem });
    const created = expectJson<VerificationBody>(first, 201);

    const replayed = await send(rt.app, { key, method: 'POST', url: SEND, body: payload, headers: { ...idem, 'x-timestamp': String(now), 'x-signature': signature(secret, now, 'POST', SEND, payload) } });
    expectSignatureProblem(replayed, /already used/);
    expect(replayed.headers['idempotent-replayed']).toBeUndefined();

    const retried = await sendSigned(rt.app, secret, now + 1, { key, method: 'POST', url: SEND, body: payload, headers: idem });
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(expectJson<VerificationBody>(retried, 201).id).toBe(created.id);
    expect(await verificationCount(rt, integration.id)).toBe(1);
  });

  it('keeps refusing a replay after the timestamp window moved on', async () => {
    const { rt, clock } = await runtimeWithClock(START);
    const { test } = await createSignedIntegration(rt.app);
    const now = nowSeconds(rt);
    const payload = body(phone());
    const headers = { 'x-timestamp': String(now), 'x-signature': signature(test.secret, now, 'POST', SEND, payload) };
    expectJson(await send(rt.app, { key: test.key, method: 'POST', url: SEND, body: payload, headers }), 201);
    clock.advance(299_000);
    expectSignatureProblem(await send(rt.app, { key: test.key, method: 'POST', url: SEND, body: payload, headers }), /already used/);
    clock.advance(2_000);
    expectSignatureProblem(await send(rt.app, { key: test.key, method: 'POST', url: SEND, body: payload, headers }), /stale/);
  });
});

describe('signed requests (policy does not require them)', () => {
  it('accepts unsigned requests, and checks any request that carries X-Signature', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app, {});
    const { key, secret } = integration.test;
    const now = nowSeconds(rt);

    expectJson(await send(rt.app, { key, method: 'POST', url: SEND, body: body(phone()) }), 201);
    expectJson(await send(rt.app, { key, method: 'GET', url: '/v1/sandbox/messages?limit=1' }), 200);
    // X-Timestamp alone is not a signature attempt.
    expectJson(await send(rt.app, { key, method: 'POST', url: SEND, body: body(phone()), headers: { 'x-timestamp': 'whatever' } }), 201);

    expectJson(await sendSigned(rt.app, secret, now, { key, method: 'POST', url: SEND, body: body(phone()) }), 201);
    const payload = body(phone());
    expectSignatureProblem(await send(rt.app, { key, method: 'POST', url: SEND, body: payload, headers: { 'x-signature': signature(secret, now, 'POST', SEND, payload) } }), /X-Timestamp is missing/);
    expectSignatureProblem(await send(rt.app, { key, method: 'POST', url: SEND, body: payload, headers: { 'x-timestamp': String(now), 'x-signature': 'v1=00' } }), /malformed/);
    expectSignatureProblem(await send(rt.app, { key, method: 'POST', url: SEND, body: payload, headers: { 'x-timestamp': String(now), 'x-signature': signature('nope', now, 'POST', SEND, payload) } }), /does not match/);
    expect(await verificationCount(rt, integration.id)).toBe(3);
  });

  it('starts requiring signatures as soon as the operator turns the policy on', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app, {});
    const { key, secret } = integration.test;
    expectJson(await send(rt.app, { key, method: 'GET', url: '/v1/policy' }), 200);
    const patched = await rt.app.inject({ method: 'PATCH', url: `/admin/v1/integrations/${integration.id}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { policy: { require_signed_requests: true } } });
    expect(patched.statusCode).toBe(200);
    expectSignatureProblem(await send(rt.app, { key, method: 'GET', url: '/v1/policy' }), /X-Timestamp is missing/);
    const policy = expectJson<{ require_signed_requests: boolean }>(await sendSigned(rt.app, secret, nowSeconds(rt), { key, method: 'GET', url: '/v1/policy' }), 200);
    expect(policy.require_signed_requests).toBe(true);
  });

  it('answers invalid-api-key before looking at the signature', async () => {
    const rt = runtime();
    const res = await send(rt.app, { key: 'otpg_test_unknown', method: 'GET', url: '/v1/policy', headers: { 'x-signature': 'garbage' } });
    expect(res.statusCode).toBe(401);
    expect((res.json() as { type: string }).type).toContain('invalid-api-key');
  });
});
