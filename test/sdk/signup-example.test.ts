/**
 * The SDK README's "End-to-end sign-up tests" example, run for real: a small app that signs users up
 * with otpgate (test key), a real otpgate with its worker running, and the test driving the app's API
 * while reading the code from a sandbox inbox with waitForCode.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { OtpgateClient } from '../../packages/client/src/index.js';
import { createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

let rt: TestRuntime;
let app: Server;
let APP_URL: string;
let otpgate: OtpgateClient;

/** The app under test: sign-up sends a code through otpgate, verify checks it. */
function signUpApp(client: OtpgateClient): Server {
  const users = new Set<string>();
  return createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      void (async () => {
        const input = JSON.parse(body || '{}') as { email?: string; code?: string };
        const answer = (status: number, json: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
        if (req.method === 'POST' && req.url === '/sign-up') {
          const sent = await client.verifications.create({ identifier: input.email ?? '', action: 'enrollment' });
          return sent.ok ? answer(202, { sent: true }) : answer(sent.problem.status, sent.problem);
        }
        if (req.method === 'POST' && req.url === '/sign-up/verify') {
          const checked = await client.verifications.check({ identifier: input.email ?? '', code: input.code ?? '' });
          if (!checked.ok) return answer(checked.problem.status, checked.problem);
          users.add(input.email ?? '');
          return answer(201, { welcome: input.email });
        }
        return answer(404, {});
      })();
    });
  });
}

beforeAll(async () => {
  rt = await startRuntime({ worker: true });
  const baseUrl = await rt.app.listen({ host: '127.0.0.1', port: 0 });
  const integration = await createIntegration(rt.app, { name: 'Sign-up example' });
  const appClient = new OtpgateClient({ apiKey: integration.testKey, baseUrl });
  otpgate = new OtpgateClient({ apiKey: integration.testKey, baseUrl });
  app = signUpApp(appClient);
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  APP_URL = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await rt?.dispose();
});

const post = (path: string, json: unknown): Promise<Response> => fetch(`${APP_URL}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });

test('sign-up API: send, read the code from the inbox, verify', async () => {
  const inbox = await otpgate.sandbox.inboxes.create({ kind: 'email' });
  if (!inbox.ok) throw new Error(inbox.problem.detail);
  const signUp = await post('/sign-up', { email: inbox.data.address });
  expect(signUp.status).toBe(202);

  const got = await otpgate.sandbox.inboxes.waitForCode(inbox.data.id, { timeoutMs: 30_000 });
  if (!got.ok) throw new Error(got.problem.detail);
  expect(got.data.code).toMatch(/^\d{6}$/);
  const wrong = await post('/sign-up/verify', { email: inbox.data.address, code: got.data.code.replace(/^./, (d) => String((Number(d) + 1) % 10)) });
  expect(wrong.status).toBe(401);
  const verify = await post('/sign-up/verify', { email: inbox.data.address, code: got.data.code });
  expect(verify.status).toBe(201);

  expect(await otpgate.sandbox.inboxes.finish(inbox.data.id)).toMatchObject({ ok: true, data: { status: 'finished' } });
});
