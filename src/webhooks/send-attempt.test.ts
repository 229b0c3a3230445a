import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendAttempt } from './send-attempt.js';

describe('sendAttempt', () => {
  let server: Server;
  let base: string;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits += 1;
      if (req.url === '/slow') return; // never answers
      res.writeHead(429, { 'retry-after': '7' }).end('y'.repeat(3000));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const input = { secrets: [`whsec_${Buffer.alloc(32, 1).toString('base64')}`], eventId: 'evt_1', body: '{}', now: Date.now(), timeoutMs: 300, allowInsecure: true };

  it('reports the status, the Retry-After and the start of the answer', async () => {
    const outcome = await sendAttempt({ ...input, url: `${base}/hook` });
    expect(outcome).toMatchObject({ ok: false, status: 429, retryAfterMs: 7_000, error: 'the receiver answered 429' });
    expect(outcome.body).toHaveLength(1024);
  });

  it('gives up after the timeout', async () => {
    const outcome = await sendAttempt({ ...input, url: `${base}/slow` });
    expect(outcome).toMatchObject({ ok: false, status: null, error: 'no answer within 300 ms' });
    expect(outcome.durationMs).toBeLessThan(2_000);
  });

  it('refuses an http URL (saved while insecure URLs were allowed) without connecting once they are not', async () => {
    const before = hits;
    const outcome = await sendAttempt({ ...input, allowInsecure: false, url: `${base}/hook` });
    expect(outcome).toMatchObject({ ok: false, status: null });
    expect(outcome.error).toMatch(/^blocked: .*https/);
    expect(hits).toBe(before);
  });
});
