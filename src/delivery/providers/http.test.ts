import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryJob } from '../channel.js';
import { HttpProvider } from './http.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

const job: DeliveryJob = {
  sourceId: 'obx_01HZX5',
  deliveryId: 'dlv_1',
  integrationId: 'int_1',
  mode: 'live',
  verificationId: 'ver_42',
  channel: 'sms',
  to: '+15551234567',
  code: '482913',
  locale: 'pt-BR',
  subject: null,
  text: 'Seu código é 482913',
  brand: 'Acme',
  overrides: { smsFrom: '+15550000000' },
};

interface Received {
  url?: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let port: number;
let received: Received[];
let connections: number;
let answer: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(req, res);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
  connections = 0;
  answer = (_req, res) => {
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"id":"gw_777","status":"queued"}');
  };
});

function provider(overrides: Partial<{ url: string; allowInsecure: boolean }> = {}): HttpProvider {
  return new HttpProvider({ url: `http://127.0.0.1:${port}/send?tenant=a`, secret, channels: ['sms', 'whatsapp'], allowInsecure: true, ...overrides });
}

function reply(status: number, headers: Record<string, string> = {}, body = ''): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };
}

describe('HttpProvider', () => {
  it('declares its name and the configured channels', () => {
    const p = provider();
    expect(p.name).toBe('http');
    expect(p.channels).toEqual(['sms', 'whatsapp']);
  });

  it('posts exactly the six fields, signed with Standard Webhooks, with the outbox id as webhook-id and Idempotency-Key', async () => {
    const outcome = await provider().send(job);
    expect(outcome).toEqual({ ok: true, status: 'sent', provider: 'http', providerId: 'gw_777' });
    expect(received).toHaveLength(1);
    const [got] = received as [Received];
    expect(got.url).toBe('/send?tenant=a');
    expect(JSON.parse(got.body)).toEqual({
      to: '+15551234567',
      channel: 'sms',
      code: '482913',
      text: 'Seu código é 482913',
      locale: 'pt-BR',
      verification_id: 'ver_42',
    });
    expect(Object.keys(JSON.parse(got.body) as object).sort()).toEqual(['channel', 'code', 'locale', 'text', 'to', 'verification_id']);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['idempotency-key']).toBe(job.sourceId);
    expect(got.headers['webhook-id']).toBe(job.sourceId);
    const ts = Number(got.headers['webhook-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(10);

    const headers = {
      'webhook-id': String(got.headers['webhook-id']),
      'webhook-timestamp': String(got.headers['webhook-timestamp']),
      'webhook-signature': String(got.headers['webhook-signature']),
    };
    expect(new Webhook(secret).verify(got.body, headers)).toEqual(JSON.parse(got.body));
    // The signature covers the body and the id: a tampered body or another secret does not verify.
    expect(() => new Webhook(secret).verify(got.body.replace('482913', '000000'), headers)).toThrow();
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(got.body, headers)).toThrow();
  });

  it('keeps webhook-id stable across two sends of the same job (the receiver can deduplicate)', async () => {
    const p = provider();
    await p.send(job);
    await p.send(job);
    await p.send({ ...job, sourceId: 'obx_other' });
    expect(received.map((r) => r.headers['webhook-id'])).toEqual([job.sourceId, job.sourceId, 'obx_other']);
    expect(received.map((r) => r.headers['idempotency-key'])).toEqual([job.sourceId, job.sourceId, 'obx_other']);
    for (const r of received) {
      expect(() =>
        new Webhook(secret).verify(r.body, {
          'webhook-id': String(r.headers['webhook-id']),
          'webhook-timestamp': String(r.headers['webhook-timestamp']),
          'webhook-signature': String(r.headers['webhook-signature']),
        }),
      ).not.toThrow();
    }
  });

  it('uses the outbox id as providerId when the answer has no string id', async () => {
    answer = reply(200, { 'content-type': 'application/json' }, '{"id":12}');
    expect(await provider().send(job)).toMatchObject({ ok: true, providerId: job.sourceId });
    answer = reply(204);
    expect(await provider().send(job)).toMatchObject({ ok: true, providerId: job.sourceId });
  });

  it('treats a 500 as retryable', async () => {
    answer = reply(500, { 'content-type': 'application/json' }, '{"error":"gateway down"}');
    const outcome = await provider().send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: true, errorCode: 'http_500', provider: 'http' });
    if (!outcome.ok) expect(outcome.error).toContain('gateway down');
  });

  it('treats a 400 as permanent, without echoing the code from the answer', async () => {
    answer = reply(400, { 'content-type': 'application/json' }, `{"message":"bad number for code ${job.code}"}`);
    const outcome = await provider().send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: false, errorCode: 'http_400' });
    if (!outcome.ok) {
      expect(outcome.error).toContain('bad number');
      expect(outcome.error).not.toContain(job.code);
    }
  });

  it('honours Retry-After on a 429', async () => {
    answer = reply(429, { 'retry-after': '30' });
    const outcome = await provider().send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: true, errorCode: 'http_429', retryAfterMs: 30_000 });
  });

  it('retries a 408 and does not retry or follow a redirect', async () => {
    answer = reply(408);
    expect(await provider().send(job)).toMatchObject({ ok: false, retryable: true, errorCode: 'http_408' });
    answer = (req, res) => {
      if (req.url?.startsWith('/send')) reply(307, { location: '/elsewhere' })(req, res);
      else reply(200, {}, '{"id":"followed"}')(req, res);
    };
    received = [];
    expect(await provider().send(job)).toMatchObject({ ok: false, retryable: false, errorCode: 'http_307' });
    expect(received.map((r) => r.url)).toEqual(['/send?tenant=a']);
  });

  it('refuses a non-public endpoint when insecure URLs are not allowed: ssrf_blocked, and the receiver gets nothing', async () => {
    const outcome = await provider({ allowInsecure: false }).send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: false, errorCode: 'ssrf_blocked', provider: 'http' });
    // https passes the scheme rule, so this one is stopped by the address check when connecting.
    const viaHttps = await provider({ url: `https://127.0.0.1:${port}/send`, allowInsecure: false }).send(job);
    expect(viaHttps).toMatchObject({ ok: false, retryable: false, errorCode: 'ssrf_blocked' });
    if (!viaHttps.ok) expect(viaHttps.error).toMatch(/loopback/);
    const viaName = await provider({ url: `https://localhost:${port}/send`, allowInsecure: false }).send(job);
    expect(viaName).toMatchObject({ ok: false, retryable: false, errorCode: 'ssrf_blocked' });
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('treats a refused connection as a retryable network failure and an abort as a timeout', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await provider({ url: `http://127.0.0.1:${closedPort}/send` }).send(job)).toMatchObject({ ok: false, retryable: true, errorCode: 'network' });

    answer = () => undefined; // never answers
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    expect(await provider().send(job, controller.signal)).toMatchObject({ ok: false, retryable: true, errorCode: 'timeout' });
  });

  it('check() runs the URL guard only and says nothing was sent', async () => {
    const ok = await provider().check();
    expect(ok.ok).toBe(true);
    expect(ok.detail).toMatch(/nothing was sent/);
    expect(received).toHaveLength(0);
    const loopback = await provider({ url: `https://127.0.0.1:${port}/send`, allowInsecure: false }).check();
    expect(loopback.ok).toBe(false);
    expect(loopback.detail).toMatch(/loopback/);
    const plain = await provider({ allowInsecure: false }).check();
    expect(plain).toMatchObject({ ok: false, detail: expect.stringMatching(/https/) });
    expect(connections).toBe(0);
  });
});
