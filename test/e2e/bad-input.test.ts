import { connect } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIntegration, request, sandboxMessages, sleep } from './client.js';
import { startServer, useServers, type Server } from './server.js';

useServers();

/**
 * Writes raw bytes to the server and collects what it answers until the connection closes, the
 * server stops answering for `idleMs`, or the write fails (a server may answer and close before
 * reading a large body). Never rejects.
 */
function rawExchange(server: Server, chunks: (string | Buffer)[], options: { end: 'end' | 'destroy' | 'keep'; idleMs?: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, options.idleMs ?? 3_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      if (options.end === 'end') socket.end();
      if (options.end === 'destroy') finish();
    });
  });
}

async function expectHealthy(server: Server): Promise<void> {
  const res = await request(server, 'GET', '/healthz');
  expect(res.status).toBe(200);
  expect(server.process.exitCode).toBeNull();
  expect(server.process.signalCode).toBeNull();
}

/** No error- or fatal-level log line (an unhandled error is logged at level 50). */
function expectNoErrorLogs(server: Server): void {
  const lines = (server.stdout() + server.stderr()).split('\n').filter((l) => /"level":(50|60)/.test(l));
  expect(lines).toEqual([]);
}

describe('bad input over a real socket', () => {
  it('a 1 MB body → 413 payload-too-large problem+json, and the server keeps answering', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    const big = JSON.stringify({ identifier: '+5511987655555', locale: 'x'.repeat(1024 * 1024) });

    const res = await request(server, 'POST', '/v1/verifications', { key: integration.testKey, rawBody: big });
    expect(res.status).toBe(413);
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'payload-too-large', status: 413 });

    // Over a raw socket: a client that declares 1 MB and starts sending is answered 413 at once,
    // without the server waiting for (or buffering) the rest.
    const head = `POST /v1/verifications HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${integration.testKey}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(big)}\r\n\r\n`;
    const answer = await rawExchange(server, [head, big.slice(0, 16 * 1024)], { end: 'keep', idleMs: 5_000 });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('content-type: application/problem+json');
    expect(answer).toContain('"type":"payload-too-large"');

    await expectHealthy(server);
    expect(await sandboxMessages(server, integration.testKey)).toEqual([]);
    expectNoErrorLogs(server);
  });

  it('a malformed JSON body → 400 validation-error problem+json', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    for (const path of ['/v1/verifications', '/v1/verifications/check']) {
      const res = await request(server, 'POST', path, { key: integration.testKey, rawBody: '{"identifier": "+5511987655555", ' });
      expect(res.status, res.text).toBe(400);
      expect(res.contentType).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'validation-error', status: 400 });
    }
    await expectHealthy(server);
  });

  it('a Content-Length larger than the body, then a closed connection, does not crash the process', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    const body = '{"identifier":"+5511987655555"}';
    const head = (length: number): string =>
      `POST /v1/verifications HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${integration.testKey}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

    // Declared 1000 bytes, sent 31, connection torn down.
    await rawExchange(server, [head(1000), body], { end: 'destroy' });
    // Declared 1000 bytes, sent 31, write side half-closed: whatever the server answers, it must not be a 5xx.
    const halfClosed = await rawExchange(server, [head(1000), body], { end: 'end', idleMs: 3_000 });
    expect(halfClosed).not.toMatch(/^HTTP\/1\.1 5/);
    // Several at once, torn down mid-body.
    await Promise.all(Array.from({ length: 10 }, () => rawExchange(server, [head(50_000), body], { end: 'destroy' })));
    await sleep(200);

    await expectHealthy(server);
    // The server still serves real work on fresh connections.
    const ok = await request(server, 'POST', '/v1/verifications', { key: integration.testKey, json: { identifier: '+5511987655556' } });
    expect(ok.status, ok.text).toBe(201);
    // None of the truncated requests created a verification.
    expect((await sandboxMessages(server, integration.testKey)).filter((m) => m.to === '+5511987655555')).toEqual([]);
    expectNoErrorLogs(server);
  });

  it('200 random garbage bodies to POST /v1/verifications and /check each answer 4xx problem+json; nothing is stored', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    const statuses = new Map<number, number>();

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          // Plain garbage, to either endpoint.
          fc.tuple(
            fc.constantFrom('/v1/verifications', '/v1/verifications/check'),
            fc.oneof(fc.json(), fc.string(), fc.string({ unit: 'binary' }), fc.jsonValue().map((v) => JSON.stringify(v))),
          ),
          // Bodies shaped like the API with garbage values, so they get past the schema into the services.
          fc.tuple(
            fc.constant('/v1/verifications'),
            fc.record({ identifier: fc.string({ maxLength: 40 }), channel: fc.constantFrom('auto', 'sms', 'email', 'whatsapp', 'pigeon') }, { requiredKeys: ['identifier'] }).map((v) => JSON.stringify(v)),
          ),
          fc.tuple(
            fc.constant('/v1/verifications/check'),
            fc
              .oneof(
                fc.record({ identifier: fc.string({ maxLength: 40 }), code: fc.oneof(fc.string(), fc.stringMatching(/^[0-9]{4,10}$/)) }),
                fc.record({ verification_id: fc.oneof(fc.string(), fc.stringMatching(/^ver_[0-9A-Za-z]{1,64}$/)), code: fc.stringMatching(/^[0-9]{6}$/) }),
              )
              .map((v) => JSON.stringify(v)),
          ),
        ),
        fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded'),
        async ([path, body], contentType) => {
          const res = await request(server, 'POST', path, { key: integration.testKey, rawBody: body, headers: { 'content-type': contentType } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(res.status, `${path} ${contentType} ${JSON.stringify(body)} → ${res.status} ${res.text}`).toBeGreaterThanOrEqual(400);
          expect(res.status, `${path} ${contentType} ${JSON.stringify(body)} → ${res.status} ${res.text}`).toBeLessThan(500);
          expect(res.contentType).toMatch(/^application\/problem\+json/);
          expect(res.body.status).toBe(res.status);
        },
      ),
      { numRuns: 200 },
    );

    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(200);
    await expectHealthy(server);
    // Let a worker deliver anything that might have been queued, then confirm nothing was.
    await sleep(1_000);
    expect(await sandboxMessages(server, integration.testKey)).toEqual([]);
    expectNoErrorLogs(server);
  }, 120_000);
});
