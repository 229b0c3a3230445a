import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

/**
 * No input may produce a 500: random bodies, query strings and headers against every route of the
 * API (integrator and operator), through the real app. Every refusal is a problem+json 4xx.
 */
let rt: TestRuntime;
let key: string;
let integrationId: string;
let inboxId: string;
beforeAll(async () => {
  rt = await startRuntime();
  const integration = await createIntegration(rt.app);
  key = integration.testKey;
  integrationId = integration.id;
  const inbox = await rt.app.inject({ method: 'POST', url: '/v1/sandbox/inboxes', headers: { 'x-api-key': key }, payload: { kind: 'email' } });
  inboxId = (inbox.json() as { id: string }).id;
});
afterAll(async () => rt.dispose());

const routes = (): { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; admin?: boolean }[] => [
  { method: 'POST', url: '/v1/verifications' },
  { method: 'POST', url: '/v1/verifications/check' },
  { method: 'GET', url: '/v1/verifications/ver_abc' },
  { method: 'POST', url: '/v1/verifications/ver_abc/resend' },
  { method: 'POST', url: '/v1/verifications/ver_abc/cancel' },
  { method: 'GET', url: '/v1/policy' },
  { method: 'POST', url: '/v1/authorize' },
  { method: 'GET', url: '/v1/sessions/current' },
  { method: 'DELETE', url: '/v1/sessions/current' },
  { method: 'POST', url: '/v1/identities' },
  { method: 'GET', url: '/v1/identities' },
  { method: 'GET', url: '/v1/identities/ref-1' },
  { method: 'PATCH', url: '/v1/identities/ref-1' },
  { method: 'GET', url: '/v1/sandbox/messages' },
  { method: 'POST', url: '/v1/sandbox/inboxes' },
  { method: 'GET', url: '/v1/sandbox/inboxes' },
  { method: 'GET', url: `/v1/sandbox/inboxes/${inboxId}` },
  { method: 'GET', url: '/v1/sandbox/inboxes/inb_nope' },
  { method: 'POST', url: `/v1/sandbox/inboxes/${inboxId}/reorder` },
  { method: 'POST', url: '/v1/sandbox/inboxes/inb_nope/finish' },
  { method: 'POST', url: '/v1/sandbox/inboxes/inb_nope/cancel' },
  { method: 'GET', url: '/v1/webhook' },
  { method: 'PATCH', url: '/v1/webhook' },
  { method: 'GET', url: '/v1/webhook/deliveries' },
  { method: 'POST', url: '/v1/webhook/deliveries/whd_nope/retry' },
  { method: 'GET', url: '/v1/pricing' },
  { method: 'GET', url: '/v1/balance' },
  { method: 'GET', url: '/v1/balance/transactions' },
  { method: 'POST', url: '/v1/providers/twilio/inbound' },
  { method: 'POST', url: `/admin/v1/integrations/${integrationId}/topups`, admin: true },
  { method: 'GET', url: '/admin/v1/pricing', admin: true },
  { method: 'GET', url: '/admin/v1/stats', admin: true },
  { method: 'POST', url: '/admin/v1/sandbox/numbers', admin: true },
  { method: 'GET', url: '/admin/v1/sandbox/numbers', admin: true },
  { method: 'DELETE', url: '/admin/v1/sandbox/numbers/+15550100', admin: true },
  { method: 'POST', url: '/admin/v1/integrations', admin: true },
  { method: 'GET', url: '/admin/v1/integrations', admin: true },
  { method: 'PATCH', url: `/admin/v1/integrations/${integrationId}`, admin: true },
  { method: 'POST', url: `/admin/v1/integrations/${integrationId}/keys`, admin: true },
  { method: 'DELETE', url: `/admin/v1/integrations/${integrationId}/keys/key_nope`, admin: true },
];

const anyBody = fc.oneof(
  fc.json(),
  fc.string(),
  fc.dictionary(
    fc.oneof(fc.constantFrom('identifier', 'code', 'channel', 'action', 'identity_reference', 'reference', 'email', 'phone', 'cpf', 'name', 'policy', 'trust_level', 'mode', 'verification_id', 'valueOf', '__proto__', 'constructor', 'url', 'events', 'secret', 'is_active', 'kind', 'country', 'regex', 'source', 'amount', 'number', 'label'), fc.string()),
    fc.oneof(fc.jsonValue(), fc.string(), fc.constantFrom('+5511987654321', 'a@b.co', '529.982.247-25', 'sms', 'email', 'strict', 'live', '123456', 'phone', 'pool', 'US', '(a+)+$', '10.0000', '-1', 'https://127.0.0.1/hook', '*')),
  ).map((o) => JSON.stringify(o)),
);
const anyQuery = fc.dictionary(fc.constantFrom('to', 'identifier', 'limit', 'cursor', 'x', 'wait', 'after', 'from', 'integration_id', 'mode'), fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('0', '1', '61', '-1', '2026-12-01T00:00:00Z')));
const anyHeader = fc.record(
  {
    'x-otp-session': fc.oneof(fc.string({ maxLength: 80 }), fc.constant(`otps_${'A'.repeat(43)}`)),
    'idempotency-key': fc.string({ minLength: 1, maxLength: 300 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    'x-timestamp': fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String)),
    'x-signature': fc.string({ maxLength: 80 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  },
  { requiredKeys: [] },
);

it('answers every random request with a 2xx or a 4xx problem, never a 5xx', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes()), anyBody, anyQuery, anyHeader, async (route, body, query, headers) => {
      const search = new URLSearchParams(query).toString();
      const res = await rt.app.inject({
        method: route.method,
        url: `${route.url}${search ? `?${search}` : ''}`,
        headers: {
          ...headers,
          ...(route.admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : { 'x-api-key': key }),
          ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
        },
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: body }),
      });
      expect(res.statusCode, `${route.method} ${route.url}?${search} ${body} → ${res.body}`).toBeLessThan(500);
      if (res.statusCode >= 400) {
        expect(res.headers['content-type']).toContain('application/problem+json');
        expect(res.json().status).toBe(res.statusCode);
      }
    }),
    { numRuns: 1200 },
  );
  expect((await rt.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
}, 120_000);
