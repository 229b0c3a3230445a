import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { api, createIntegration, type TestIntegration } from '../helpers/runtime.js';
import { expectProblem, phone, sandboxMessages, send, useRuntime, type ProblemBody } from './support.js';

const runtime = useRuntime();

/** A POST with a raw body, as a client that gets the encoding wrong sends it. */
function raw(integration: TestIntegration, url: string, payload: string, contentType: string | null = 'application/json'): Promise<LightMyRequestResponse> {
  return runtime().app.inject({
    method: 'POST',
    url,
    headers: { 'x-api-key': integration.testKey, ...(contentType === null ? {} : { 'content-type': contentType }) },
    payload,
  });
}

/**
 * The refusal is a problem of `type`, nothing was queued or captured for the integration, and a
 * valid request right after it still works.
 */
async function expectRefused(integration: TestIntegration, res: LightMyRequestResponse, status: number, type: string): Promise<ProblemBody> {
  const body = expectProblem(res, status, type);
  const rt = runtime();
  expect(await rt.worker.drain()).toBe(0);
  expect(await sandboxMessages(rt, integration.testKey)).toEqual([]);
  const to = phone();
  const v = await send(rt.app, integration.testKey, { identifier: to });
  expect(v.identifier).toBe(to);
  return body;
}

const SEND = '/v1/verifications';

describe('bad input on POST /v1/verifications', () => {
  it('malformed JSON → 400', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await raw(integration, SEND, '{"identifier": "+5511987650000",'), 400, 'validation-error');
    expect(body.errors).toBeDefined();
  });

  for (const [label, payload] of [
    ['a JSON array', '[{"identifier":"+5511987650000"}]'],
    ['JSON null', 'null'],
    ['a JSON string', '"+5511987650000"'],
    ['a JSON number', '42'],
  ] as const) {
    it(`${label} as the body → 400`, async () => {
      const integration = await createIntegration(runtime().app);
      await expectRefused(integration, await raw(integration, SEND, payload), 400, 'validation-error');
    });
  }

  it('an empty JSON body → 400', async () => {
    const integration = await createIntegration(runtime().app);
    await expectRefused(integration, await raw(integration, SEND, ''), 400, 'validation-error');
  });

  it('identifier as a number → 400 naming identifier', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier: 5511987650000 }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('identifier');
  });

  it('a missing identifier → 400 naming identifier', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { channel: 'sms' }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('identifier');
  });

  it('unknown fields → 400 naming the field', async () => {
    const integration = await createIntegration(runtime().app);
    const res = await api(runtime().app, integration.testKey).post(SEND, { identifier: phone(), callback_url: 'https://example.com' });
    const body = await expectRefused(integration, res, 400, 'validation-error');
    expect(body.errors).toHaveProperty('callback_url');
  });

  it('a body over 64 KiB → 413 payload-too-large', async () => {
    const integration = await createIntegration(runtime().app);
    const payload = JSON.stringify({ identifier: phone(), action: 'sign_in', locale: 'en', pad: 'x'.repeat(70 * 1024) });
    expect(Buffer.byteLength(payload)).toBeGreaterThan(64 * 1024);
    await expectRefused(integration, await raw(integration, SEND, payload), 413, 'payload-too-large');
  });

  it('a body just under 64 KiB is not refused as too large', async () => {
    const integration = await createIntegration(runtime().app);
    // Still invalid (unknown field), but it reaches validation rather than the size limit.
    const payload = JSON.stringify({ identifier: phone(), pad: 'x'.repeat(60 * 1024) });
    const body = await expectRefused(integration, await raw(integration, SEND, payload), 400, 'validation-error');
    expect(body.errors).toHaveProperty('pad');
  });

  it('an unknown channel → 400 naming channel', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier: phone(), channel: 'pigeon' }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('channel');
  });

  for (const [label, identifier, code] of [
    ['a phone with letters', '+1 800 FLOWERS', 'invalid_phone'],
    ['a phone too short for its country', '+55 11 1234', 'invalid_phone'],
    ['a phone without +', '5511987654321', 'unrecognized'],
    ['a malformed email', 'john..doe@example.com', 'invalid_email'],
    ['an email without a domain dot', 'john@localhost', 'invalid_email'],
    ['a CPF with wrong check digits', '529.982.247-26', 'invalid_cpf'],
    ['a blank identifier', '   ', 'unrecognized'],
  ] as const) {
    it(`${label} → 400 with errors.identifier ${code}`, async () => {
      const integration = await createIntegration(runtime().app);
      const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier }), 400, 'validation-error');
      expect(body.errors?.identifier).toEqual([code]);
    });
  }

  it('an empty identifier → 400', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier: '' }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('identifier');
  });

  it('an identifier of 400 characters → 400', async () => {
    const integration = await createIntegration(runtime().app);
    const identifier = `${'a'.repeat(388)}@example.com`;
    expect(identifier).toHaveLength(400);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('identifier');
  });

  for (const [label, action] of [
    ['an action of 65 characters', 'a'.repeat(65)],
    ['an action with capitals', 'SignIn'],
    ['an action with a dash', 'sign-in'],
    ['an empty action', ''],
  ] as const) {
    it(`${label} → 400 naming action`, async () => {
      const integration = await createIntegration(runtime().app);
      const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier: phone(), action }), 400, 'validation-error');
      expect(body.errors).toHaveProperty('action');
    });
  }

  it('an action of 64 characters is accepted', async () => {
    const integration = await createIntegration(runtime().app);
    const action = 'a'.repeat(64);
    expect((await send(runtime().app, integration.testKey, { identifier: phone(), action })).action).toBe(action);
  });

  it('a malformed locale → 400 naming locale', async () => {
    const integration = await createIntegration(runtime().app);
    const body = await expectRefused(integration, await api(runtime().app, integration.testKey).post(SEND, { identifier: phone(), locale: 'portuguese please' }), 400, 'validation-error');
    expect(body.errors).toHaveProperty('locale');
  });

  it('a text/plain body → 400', async () => {
    const integration = await createIntegration(runtime().app);
    await expectRefused(integration, await raw(integration, SEND, JSON.stringify({ identifier: phone() }), 'text/plain'), 400, 'validation-error');
  });

  it('a form-encoded body → 4xx problem', async () => {
    const integration = await createIntegration(runtime().app);
    const res = await raw(integration, SEND, 'identifier=%2B5511987650000', 'application/x-www-form-urlencoded');
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    await expectRefused(integration, res, res.statusCode, (res.json() as ProblemBody).type);
  });

  it('a body without a content type → 4xx problem', async () => {
    const integration = await createIntegration(runtime().app);
    const res = await raw(integration, SEND, JSON.stringify({ identifier: phone() }), null);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    await expectRefused(integration, res, res.statusCode, (res.json() as ProblemBody).type);
  });
});

describe('bad input on POST /v1/verifications/check', () => {
  it('code as a number → 400 naming code, and the verification is untouched', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    const to = phone();
    const v = await send(rt.app, integration.testKey, { identifier: to });
    const res = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code: 123456 });
    expect(expectProblem(res, 400, 'validation-error').errors).toHaveProperty('code');
    const after = await api(rt.app, integration.testKey).get(`/v1/verifications/${v.id}`);
    expect(after.json()).toMatchObject({ status: 'pending', attempts: 0 });
  });

  for (const [label, code] of [
    ['letters', 'abcdef'],
    ['too short', '123'],
    ['too long', '12345678901'],
  ] as const) {
    it(`a code of ${label} → 400 naming code without spending an attempt`, async () => {
      const rt = runtime();
      const integration = await createIntegration(rt.app);
      const to = phone();
      const v = await send(rt.app, integration.testKey, { identifier: to });
      const res = await api(rt.app, integration.testKey).post('/v1/verifications/check', { identifier: to, code });
      expect(expectProblem(res, 400, 'validation-error').errors).toHaveProperty('code');
      expect((await api(rt.app, integration.testKey).get(`/v1/verifications/${v.id}`)).json()).toMatchObject({ attempts: 0 });
    });
  }

  it('an invalid identifier → 400 naming identifier', async () => {
    const integration = await createIntegration(runtime().app);
    const res = await api(runtime().app, integration.testKey).post('/v1/verifications/check', { identifier: 'not an identifier', code: '123456' });
    expect(expectProblem(res, 400, 'validation-error').errors?.identifier).toEqual(['unrecognized']);
  });

  it('unknown fields → 400', async () => {
    const integration = await createIntegration(runtime().app);
    const res = await api(runtime().app, integration.testKey).post('/v1/verifications/check', { identifier: phone(), code: '123456', remember_me: true });
    expect(expectProblem(res, 400, 'validation-error').errors).toHaveProperty('remember_me');
  });

  it('malformed JSON → 400', async () => {
    const integration = await createIntegration(runtime().app);
    expectProblem(await raw(integration, '/v1/verifications/check', '{"code": '), 400, 'validation-error');
  });
});

describe('unknown routes', () => {
  it('answer 404 not-found as a problem', async () => {
    const rt = runtime();
    const integration = await createIntegration(rt.app);
    expectProblem(await rt.app.inject({ method: 'GET', url: '/nope' }), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).get('/v1/nope'), 404, 'not-found');
    expectProblem(await api(rt.app, integration.testKey).post('/v1/verifications/check/extra', {}), 404, 'not-found');
    expectProblem(await rt.app.inject({ method: 'DELETE', url: '/v1/verifications', headers: { 'x-api-key': integration.testKey } }), 404, 'not-found');
  });
});
