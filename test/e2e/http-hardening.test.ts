/**
 * Security review (issue 10), items 1 and 3, over real sockets against the built server process:
 * slow clients are timed out with a 408 problem, connections beyond the cap are refused while
 * established ones keep working, and Node's / the router's refusals (431, 414, bad URL) are
 * RFC 9457 problems that never echo the request.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createIntegration, request } from './client.js';
import { startServer, useServers, type Server } from './server.js';

useServers();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RawAnswer {
  /** Everything the server wrote. */
  text: string;
  /** ms from the last write to the server closing the connection, or null if it stayed open. */
  closedAfterMs: number | null;
  /** ms from the last write to the first byte of the answer, or null if none came. */
  answeredAfterMs: number | null;
}

/** Opens a socket, writes `chunks`, then waits (writing nothing more) for up to `waitMs`. */
function stall(server: Server, chunks: (string | Buffer)[], waitMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect(server.port, '127.0.0.1');
    let text = '';
    let sentAt = 0;
    let answeredAfterMs: number | null = null;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedAfterMs: closed ? Date.now() - sentAt : null, answeredAfterMs });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answeredAfterMs ??= Date.now() - sentAt;
      text += chunk;
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      sentAt = Date.now();
    });
  });
}

/** Splits a raw HTTP/1.1 answer into status, lower-cased headers and body. */
function parseAnswer(text: string): { status: number; headers: Record<string, string>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: end === -1 ? '' : text.slice(end + 4) };
}

function expectRawProblem(text: string, status: number, type: string): Record<string, unknown> {
  const answer = parseAnswer(text);
  expect(answer.status, text).toBe(status);
  expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(body).toMatchObject({ type, status });
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  return body;
}

/** Times GET /healthz on a fresh connection. */
async function healthzMs(server: Server): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(5_000) });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  return performance.now() - started;
}

/** A keep-alive connection on which requests can be sent one after the other. */
class KeepAlive {
  private buffer = '';
  private waiting: (() => void) | null = null;
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  static open(server: Server): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1');
      socket.once('connect', () => resolve(new KeepAlive(socket)));
      socket.once('error', reject);
    });
  }

  /** GET `path` on this connection; resolves with the raw answer once its body is complete. */
  async get(path: string, timeoutMs = 3_000): Promise<string> {
    this.buffer = '';
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end !== -1) {
        const length = Number(/content-length:\s*(\d+)/i.exec(this.buffer.slice(0, end))?.[1] ?? 0);
        if (this.buffer.length >= end + 4 + length) return this.buffer;
      }
      if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('slow clients (issue 10, item 1)', () => {
  it('a body that stalls after 10 of 100 bytes is answered 408 request-timeout and closed within the configured timeout; /healthz stays fast', async () => {
    const server = await startServer({ env: { OTPGATE_REQUEST_TIMEOUT_MS: '1000', OTPGATE_HEADERS_TIMEOUT_MS: '1000' } });
    const integration = await createIntegration(server);
    const head =
      'POST /v1/verifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `X-API-Key: ${integration.testKey}\r\nContent-Length: 100\r\n\r\n`;

    // 200 more such clients stall at the same time: the server keeps answering others meanwhile.
    const crowd = Array.from({ length: 200 }, () => stall(server, [head, '{"identifie'], 6_000));
    const probe = stall(server, [head, '{"identifie'], 6_000);
    await sleep(300);
    const during = [await healthzMs(server), await healthzMs(server), await healthzMs(server)];
    const answer = await probe;
    const others = await Promise.all(crowd);

    expect(answer.closedAfterMs, 'the server must close a stalled body').not.toBeNull();
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(900);
    expect(answer.closedAfterMs).toBeLessThan(3_000);
    const body = expectRawProblem(answer.text, 408, 'request-timeout');
    expect(JSON.stringify(body)).not.toContain('identifie');
    expect(parseAnswer(answer.text).headers.connection).toBe('close');
    for (const other of others) {
      expect(other.closedAfterMs).not.toBeNull();
      expect(parseAnswer(other.text).status).toBe(408);
    }
    expect(Math.max(...during)).toBeLessThan(500);
    expect(await healthzMs(server)).toBeLessThan(500);
    // Timed-out requests are the clients' fault: nothing logged at error level.
    await sleep(200);
    expect((server.stdout() + server.stderr()).split('\n').filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });

  it('headers that never finish are answered 408 and closed within the headers timeout', async () => {
    const server = await startServer({ env: { OTPGATE_REQUEST_TIMEOUT_MS: '5000', OTPGATE_HEADERS_TIMEOUT_MS: '1000' } });
    const answer = await stall(server, ['GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '], 6_000);
    expect(answer.closedAfterMs, 'the server must close stalled headers').not.toBeNull();
    expect(answer.closedAfterMs).toBeLessThan(3_000);
    expectRawProblem(answer.text, 408, 'request-timeout');
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const server = await startServer({ env: { OTPGATE_KEEP_ALIVE_TIMEOUT_MS: '500' } });
    const conn = await KeepAlive.open(server);
    expect(parseAnswer(await conn.get('/healthz')).status).toBe(200);
    const idleSince = Date.now();
    while (!conn.closed && Date.now() - idleSince < 5_000) await sleep(25);
    expect(conn.closed, 'the server must close an idle keep-alive connection').toBe(true);
    expect(Date.now() - idleSince).toBeLessThan(2_000);
  });

  it('connections beyond OTPGATE_MAX_CONNECTIONS are closed at once; an established connection still gets /healthz', async () => {
    const cap = 20;
    const server = await startServer({ env: { OTPGATE_MAX_CONNECTIONS: String(cap) } });
    const first = await KeepAlive.open(server);
    expect(parseAnswer(await first.get('/healthz')).status).toBe(200);

    // cap + 5 more: each over the cap connects at TCP level and is closed by the server unanswered.
    // (The readiness probe's pooled keep-alive connection may still hold a slot: allow for it.)
    const more: KeepAlive[] = [];
    for (let i = 0; i < cap + 5; i++) more.push(await KeepAlive.open(server));
    await sleep(300);
    const open = more.filter((c) => !c.closed);
    const refused = more.filter((c) => c.closed);
    expect(open.length + 1).toBeLessThanOrEqual(cap);
    expect(open.length + 1).toBeGreaterThanOrEqual(cap - 1);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    // The refused ones are the last to come.
    expect(more.slice(0, open.length).every((c) => !c.closed)).toBe(true);

    // Established connections keep working at the cap.
    expect(parseAnswer(await first.get('/healthz')).status).toBe(200);
    expect(parseAnswer(await open[open.length - 1]!.get('/healthz')).status).toBe(200);

    // Freed slots are usable again.
    for (const c of more) c.close();
    await sleep(200);
    expect((await request(server, 'GET', '/healthz')).status).toBe(200);
    first.close();
  });
});

describe('refusals are problems that echo nothing (issue 10, item 3)', () => {
  const MARK = 'ECHO-MARKER-7f3a';

  it('headers over Node’s limit → 431 headers-too-large problem+json, without the header', async () => {
    const server = await startServer();
    const answer = await stall(server, [`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${MARK}${'a'.repeat(64 * 1024)}\r\n\r\n`], 5_000);
    expect(answer.closedAfterMs).not.toBeNull();
    expectRawProblem(answer.text, 431, 'headers-too-large');
    expect(answer.text).not.toContain(MARK);
    expect((await request(server, 'GET', '/healthz')).status).toBe(200);
  });

  it('a request line over Node’s limit (a huge URI) → 431 problem, without the URI', async () => {
    const server = await startServer();
    const answer = await stall(server, [`GET /v1/${MARK}${'a'.repeat(64 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`], 5_000);
    expectRawProblem(answer.text, 431, 'headers-too-large');
    expect(answer.text).not.toContain(MARK);
  });

  it('a path parameter over maxParamLength → 414 uri-too-long problem+json, without the path', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    for (const path of [`/v1/verifications/${MARK}${'a'.repeat(200)}`, `/admin/v1/integrations/${MARK}${'a'.repeat(200)}`]) {
      const res = await request(server, 'GET', path, { key: integration.testKey, bearer: server.adminToken ?? '' });
      expect(res.status, res.text).toBe(414);
      expect(res.contentType).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ type: 'uri-too-long', status: 414 });
      expect(res.text).not.toContain(MARK);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('a malformed percent-encoding in a path parameter → 400 validation-error problem, without the path', async () => {
    const server = await startServer();
    const integration = await createIntegration(server);
    const res = await request(server, 'GET', `/v1/verifications/${MARK}%E0%A4%A`, { key: integration.testKey });
    expect(res.status, res.text).toBe(400);
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: 'validation-error', status: 400, errors: { '(path)': ['invalid_format'] } });
    expect(res.text).not.toContain(MARK);
  });
});
