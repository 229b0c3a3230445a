import { createHash, createHmac } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { PolicyPatch } from '../../src/domain/policy.js';
import type { TestRuntime } from '../helpers/runtime.js';
import { ADMIN_TOKEN } from '../helpers/runtime.js';
import { expectProblem } from '../routes/support.js';

/**
 * The scheme of API.md "Signed requests", computed here step by step with node:crypto (independent
 * of the server's and the SDK's code): `v1=` + hex HMAC-SHA256(secret, ts \n METHOD \n path?query \n
 * hex SHA-256(body)).
 */
export function signature(secret: string, timestamp: number | string, method: string, pathWithQuery: string, body = ''): string {
  const bodyHash = createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex');
  const canonical = [String(timestamp), method.toUpperCase(), pathWithQuery, bodyHash].join('\n');
  return 'v1=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(canonical, 'utf8').digest('hex');
}

export interface SignedCall {
  key: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** The exact body text sent (JSON); omitted → no body and no content type. */
  body?: string;
  headers?: Record<string, string>;
}

/** Sends a request as given (no signing here: the caller builds the headers). */
export function send(app: FastifyInstance, call: SignedCall): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { 'x-api-key': call.key, ...call.headers };
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  return app.inject({ method: call.method, url: call.url, headers, ...(call.body === undefined ? {} : { payload: call.body }) });
}

/** Signs with `secret` at `timestamp` (unix seconds) over exactly what is sent, then sends. */
export function sendSigned(app: FastifyInstance, secret: string, timestamp: number, call: SignedCall): Promise<LightMyRequestResponse> {
  const headers = { 'x-timestamp': String(timestamp), 'x-signature': signature(secret, timestamp, call.method, call.url, call.body ?? ''), ...call.headers };
  return send(app, { ...call, headers });
}

export interface KeyPair {
  id: string;
  key: string;
  secret: string;
}

export interface SignedIntegration {
  id: string;
  test: KeyPair;
  live: KeyPair;
}

/** Creates an integration through the operator API and keeps its keys' signing secrets. */
export async function createSignedIntegration(app: FastifyInstance, policy: PolicyPatch = { require_signed_requests: true }): Promise<SignedIntegration> {
  const res = await app.inject({ method: 'POST', url: '/admin/v1/integrations', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { name: 'Signed', policy } });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  const body = res.json() as { id: string; keys: Record<'test' | 'live', { id: string; key: string; signing_secret: string }> };
  const pair = (k: { id: string; key: string; signing_secret: string }): KeyPair => ({ id: k.id, key: k.key, secret: k.signing_secret });
  return { id: body.id, test: pair(body.keys.test), live: pair(body.keys.live) };
}

/** Issues another key of `mode` for the integration. */
export async function issueKey(app: FastifyInstance, integrationId: string, mode: 'test' | 'live' = 'test'): Promise<KeyPair> {
  const res = await app.inject({ method: 'POST', url: `/admin/v1/integrations/${integrationId}/keys`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { mode } });
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status: 201 });
  const body = res.json() as { id: string; key: string; signing_secret: string };
  return { id: body.id, key: body.key, secret: body.signing_secret };
}

/** Asserts a 401 `invalid-signature` problem whose detail matches; returns the detail. */
export function expectSignatureProblem(res: LightMyRequestResponse, detail: RegExp): string {
  const body = expectProblem(res, 401, 'invalid-signature');
  expect(body.detail).toMatch(detail);
  return body.detail;
}

/** How many verifications the integration has (to prove a refused request stored nothing). */
export async function verificationCount(rt: TestRuntime, integrationId: string): Promise<number> {
  const row = await rt.store.db
    .selectFrom('verifications')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('integration_id', '=', integrationId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Unix seconds of a runtime's clock. */
export const nowSeconds = (rt: TestRuntime): number => Math.floor(rt.services.clock.now() / 1000);
