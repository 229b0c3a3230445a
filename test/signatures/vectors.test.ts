import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signRequest } from '../../packages/client/src/sign.js';
import { cryptoRandom } from '../../src/domain/clock.js';
import { seal } from '../../src/domain/codes.js';
import { canonicalRequest } from '../../src/http/plugins/signatures.js';
import { frozenClock } from '../helpers/clock.js';
import { expectJson, useRuntime, type VerificationBody } from '../routes/support.js';
import { createSignedIntegration, send } from './support.js';

/** The known-answer vectors of README.md "Signed requests" (keep the two in step). */
const SECRET = 'otpg_sig_0123456789ABCDEFGHIJabcdefghijKLMNOPQRST';
const TIMESTAMP = 1767225600; // 2026-01-01T00:00:00Z
const VECTORS = [
  {
    method: 'POST',
    path: '/v1/verifications',
    body: '{"identifier":"+5511987654321","action":"sign_in"}',
    bodySha256: '7d61a74ef0574ae7b3a0b8b6b4558146aedfc9b021f8c51a590cee79a05a089d',
    canonical: '1767225600\nPOST\n/v1/verifications\n7d61a74ef0574ae7b3a0b8b6b4558146aedfc9b021f8c51a590cee79a05a089d',
    signature: 'v1=fd2756778263a0ffb538557edd140bdc646e65fe1b6181b7b9d558396ef1979f',
  },
  {
    method: 'GET',
    path: '/v1/sandbox/messages?to=%2B5511987654321&limit=1',
    body: '',
    bodySha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    canonical: '1767225600\nGET\n/v1/sandbox/messages?to=%2B5511987654321&limit=1\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    signature: 'v1=29f1e4249cc98f806feb27f66bc3416ad6a00c30f1213d1a1ce55fa6b929686c',
  },
] as const;

describe('known-answer vectors (README)', () => {
  it.each(VECTORS)('$method $path: node:crypto step by step, the server canonical form and the SDK all agree', (v) => {
    const bodySha256 = createHash('sha256').update(v.body, 'utf8').digest('hex');
    expect(bodySha256).toBe(v.bodySha256);
    const canonical = `${TIMESTAMP}\n${v.method}\n${v.path}\n${bodySha256}`;
    expect(canonical).toBe(v.canonical);
    expect('v1=' + createHmac('sha256', SECRET).update(canonical).digest('hex')).toBe(v.signature);

    expect(canonicalRequest(String(TIMESTAMP), v.method, v.path, Buffer.from(v.body, 'utf8'))).toBe(v.canonical);
    expect(signRequest({ secret: SECRET, timestamp: TIMESTAMP, method: v.method, pathWithQuery: v.path, body: v.body })).toEqual({
      'X-Timestamp': String(TIMESTAMP),
      'X-Signature': v.signature,
    });
  });
});

describe('the server accepts the vectors', () => {
  const runtime = useRuntime({ clock: frozenClock(TIMESTAMP * 1000) });

  it('answers the vector requests when the key has the vector secret', async () => {
    const rt = runtime();
    const integration = await createSignedIntegration(rt.app);
    // Give the test key the vector's secret (sealed as the server stores secrets), before its first use.
    await rt.store.db
      .updateTable('api_keys')
      .set({ signing_secret_sealed: seal(rt.services.serverSecret, cryptoRandom, SECRET) })
      .where('id', '=', integration.test.id)
      .execute();

    const [post, get] = VECTORS;
    const headers = (v: (typeof VECTORS)[number]) => ({ 'x-timestamp': String(TIMESTAMP), 'x-signature': v.signature });
    const created = expectJson<VerificationBody>(await send(rt.app, { key: integration.test.key, method: 'POST', url: post.path, body: post.body, headers: headers(post) }), 201);
    expect(created.identifier).toBe('+5511987654321');
    await rt.worker.drain();
    const listed = expectJson<{ data: { verification_id: string }[] }>(await send(rt.app, { key: integration.test.key, method: 'GET', url: get.path, headers: headers(get) }), 200);
    expect(listed.data[0]?.verification_id).toBe(created.id);
  });
});
