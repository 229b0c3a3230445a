import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtpgateClient } from '../../packages/client/src/index.js';
import { startRuntime, type TestRuntime } from '../helpers/runtime.js';
import { phone } from '../routes/support.js';
import { createSignedIntegration, type SignedIntegration } from './support.js';

/** otpgate on a real port, an integration that requires signed requests, and the SDK signing its calls. */
let rt: TestRuntime;
let baseUrl: string;
let integration: SignedIntegration;

beforeAll(async () => {
  rt = await startRuntime();
  baseUrl = await rt.app.listen({ host: '127.0.0.1', port: 0 });
  integration = await createSignedIntegration(rt.app);
});

afterAll(async () => {
  await rt.dispose();
});

describe('OtpgateClient with signingSecret', () => {
  it('sends, reads the sandbox, checks and reads back, every call signed', async () => {
    const client = new OtpgateClient({ apiKey: integration.test.key, signingSecret: integration.test.secret, baseUrl });
    const identifier = phone();
    const sent = await client.verifications.create({ identifier, action: 'sign_in' });
    if (!sent.ok) throw new Error(JSON.stringify(sent.problem));
    expect(sent.data.status).toBe('pending');

    await rt.worker.drain();
    const messages = await client.sandbox.messages({ to: identifier, limit: 1 });
    if (!messages.ok) throw new Error(JSON.stringify(messages.problem));
    const code = messages.data.data[0]?.code;
    expect(code).toMatch(/^\d+$/);

    const checked = await client.verifications.check({ identifier, code: code ?? '' });
    if (!checked.ok) throw new Error(JSON.stringify(checked.problem));
    expect(checked.data.status).toBe('approved');

    const read = await client.verifications.get(sent.data.id);
    if (!read.ok) throw new Error(JSON.stringify(read.problem));
    expect(read.data.status).toBe('approved');

    const policy = await client.policy.get();
    expect(policy.ok && policy.data.require_signed_requests).toBe(true);
  });

  it('is refused without the secret or with another key’s secret', async () => {
    const unsigned = new OtpgateClient({ apiKey: integration.test.key, baseUrl });
    const res = await unsigned.verifications.create({ identifier: phone() });
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.status).toBe(401);
      expect(res.problem.type).toContain('invalid-signature');
      expect(res.problem.detail).toMatch(/X-Timestamp is missing/);
    }
    const crossed = new OtpgateClient({ apiKey: integration.test.key, signingSecret: integration.live.secret, baseUrl });
    const other = await crossed.verifications.create({ identifier: phone() });
    expect(!other.ok && other.problem.detail).toMatch(/does not match/);
  });

  it('is refused when its clock is more than 300 s off', async () => {
    const skewed = new OtpgateClient({ apiKey: integration.test.key, signingSecret: integration.test.secret, baseUrl, now: () => Date.now() - 400_000 });
    const res = await skewed.verifications.create({ identifier: phone() });
    expect(!res.ok && res.problem.detail).toMatch(/stale/);
  });
});
