import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockedAddressError } from '../../net/url-guard.js';
import { HttpThread, httpThreadWorkerFile, ThreadedHttpClient } from '../../net/http-thread.js';
import { HttpClient, HttpTimeoutError, readBodyText, ResponseTooLargeError, type HttpClientOptions, type HttpRequester } from './http-client.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
let connections: Socket[];
let client: HttpRequester;

beforeEach(async () => {
  connections = [];
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf-8')));
  });
  server.on('connection', (socket: Socket) => connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await client.close();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
});

const closedSocket = (socket: Socket): Promise<void> => (socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve())));

// The thread runs the built copy of net/http-thread-worker.ts (the test setup builds first).
const threadFile = httpThreadWorkerFile();
if (!threadFile) throw new Error('no built http-thread-worker.js: run the build first');
const thread = new HttpThread(threadFile);

type Make = (options?: Omit<HttpClientOptions, 'lookup'>) => HttpRequester;
const implementations: Array<[string, Make]> = [
  ['HttpClient', (options) => new HttpClient(options)],
  ['ThreadedHttpClient (the call made on a worker thread)', (options) => new ThreadedHttpClient(thread, options)],
];

describe.each(implementations)('%s', (_name, make) => {
  beforeEach(() => {
    client = make();
  });

  it('sends the method, headers and body, and reads status, lower-case headers, text and JSON', async () => {
    let seen: { method?: string; url?: string; auth?: string; type?: string; body?: string } = {};
    handler = (req, res, body) => {
      seen = { method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body };
      res.setHeader('Retry-After', '7');
      res.setHeader('X-Multi', ['a', 'b']);
      res.writeHead(429, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'slow down' }));
    };
    const res = await client.request(`${baseUrl}/v1/things?x=1&y=2`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(seen).toEqual({ method: 'POST', url: '/v1/things?x=1&y=2', auth: 'Bearer t', type: 'application/json', body: '{"a":1}' });
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-multi']).toBe('a, b');
    expect(await res.text()).toBe('{"error":"slow down"}');
    expect(await res.json()).toEqual({ error: 'slow down' });
  });

  it('reuses one keep-alive connection across sequential calls', async () => {
    for (let i = 0; i < 20; i++) {
      const res = await client.request(`${baseUrl}/${i}`, { method: i % 2 ? 'GET' : 'POST', body: i % 2 ? undefined : 'x' });
      expect(res.status).toBe(200);
    }
    expect(connections).toHaveLength(1);
  });

  it('reuses the connection even when the caller never reads the body', async () => {
    handler = (_req, res) => res.end('x'.repeat(100_000));
    for (let i = 0; i < 5; i++) expect((await client.request(baseUrl)).status).toBe(200);
    expect(connections).toHaveLength(1);
  });

  it('an abort ends a call the server never answers, promptly, and throws', async () => {
    handler = () => undefined; // never answers
    const signal = AbortSignal.timeout(100);
    const started = Date.now();
    await expect(client.request(`${baseUrl}/hang`, { signal })).rejects.toThrow();
    expect(signal.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    await closedSocket(connections[0]!); // the aborted call's connection is not left open
  });

  it('an abort also ends a body that stops half-way', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part of it'); // and nothing more
    };
    const signal = AbortSignal.timeout(150);
    const started = Date.now();
    await expect(client.request(baseUrl, { signal })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('timeoutMs ends a call the server never answers with HttpTimeoutError, and closes its connection', async () => {
    handler = () => undefined; // never answers
    const started = Date.now();
    const error: unknown = await client.request(`${baseUrl}/hang`, { timeoutMs: 120 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as HttpTimeoutError).timeoutMs).toBe(120);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeLessThan(2000);
    await closedSocket(connections[0]!);
  });

  it('timeoutMs covers the whole call: a body that stops half-way times out too; a quick answer is untouched', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part of it'); // and nothing more
    };
    await expect(client.request(baseUrl, { timeoutMs: 150 })).rejects.toBeInstanceOf(HttpTimeoutError);
    handler = (_req, res) => res.end('quick');
    const res = await client.request(baseUrl, { timeoutMs: 150 });
    expect(await res.text()).toBe('quick');
    await new Promise((resolve) => setTimeout(resolve, 250)); // past the deadline: nothing fires late
    expect(await (await client.request(baseUrl, { timeoutMs: 150 })).text()).toBe('quick');
  });

  it('an already aborted signal throws before anything is sent', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(client.request(baseUrl, { signal: controller.signal })).rejects.toThrow();
    expect(connections).toHaveLength(0);
  });

  it('bounds the body read: past the limit text() and json() reject, the status is still there, and the client goes on', async () => {
    const small = make({ maxBodyBytes: 64 * 1024 });
    try {
      let chunked = true;
      handler = (_req, res) => {
        const body = Buffer.alloc(4 * 1024 * 1024, 'a'); // 4 MiB
        if (chunked) {
          res.writeHead(200, { 'content-type': 'text/plain' }); // no content-length: streamed
          for (let i = 0; i < 64; i++) res.write(body.subarray(i * 65_536, (i + 1) * 65_536));
          res.end();
        } else {
          res.writeHead(502, { 'content-type': 'text/plain', 'content-length': String(body.length) });
          res.end(body);
        }
      };
      const streamed = await small.request(baseUrl);
      expect(streamed.status).toBe(200);
      await expect(streamed.text()).rejects.toBeInstanceOf(ResponseTooLargeError);
      await expect(streamed.json()).rejects.toBeInstanceOf(ResponseTooLargeError);
      expect(await readBodyText(streamed)).toBe('');

      chunked = false; // declared too large by content-length
      const declared = await small.request(baseUrl);
      expect(declared.status).toBe(502);
      await expect(declared.text()).rejects.toThrow(/over 65536 bytes/);

      handler = (_req, res) => res.end('fine');
      const next = await small.request(baseUrl);
      expect(await next.text()).toBe('fine');
    } finally {
      await small.close();
    }
  });

  it('a body just under the default limit (1 MiB) is read whole', async () => {
    const body = 'b'.repeat(1024 * 1024);
    handler = (_req, res) => res.end(body);
    expect(await (await client.request(baseUrl)).text()).toBe(body);
  });

  it('a refused connection throws', async () => {
    const url = baseUrl;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    const error: unknown = await client.request(url).catch((e: unknown) => e);
    expect(String(error)).toMatch(/ECONNREFUSED/);
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    server = createServer().listen(0, '127.0.0.1'); // for afterEach
  });

  it('close() closes the pooled connections, and the client refuses calls afterwards', async () => {
    await client.request(baseUrl);
    await client.request(baseUrl);
    expect(connections).toHaveLength(1);
    const socket = connections[0]!;
    expect(socket.destroyed).toBe(false);

    const started = Date.now();
    await client.close();
    await closedSocket(socket);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(client.request(baseUrl)).rejects.toThrow(/closed/);
    expect(connections).toHaveLength(1);
  });

  it('close() cuts a call still hanging after the grace period', async () => {
    const quick = make({ closeGraceMs: 50 });
    handler = () => undefined; // never answers
    const pending = quick.request(baseUrl).catch((e: unknown) => e);
    while (connections.length === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await quick.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });

  it('keeps one pool per origin', async () => {
    const other = createServer((_req, res) => res.end('other'));
    const otherConnections: Socket[] = [];
    other.on('connection', (s: Socket) => otherConnections.push(s));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      for (let i = 0; i < 3; i++) {
        expect(await (await client.request(`${baseUrl}/a`)).text()).toBe('{"ok":true}');
        expect(await (await client.request(`${otherUrl}/b`)).text()).toBe('other');
      }
      expect(connections).toHaveLength(1);
      expect(otherConnections).toHaveLength(1);
      await client.close();
      await Promise.all([closedSocket(connections[0]!), closedSocket(otherConnections[0]!)]);
    } finally {
      const closed = new Promise<void>((resolve) => other.close(() => resolve()));
      other.closeAllConnections();
      await closed;
    }
  });
});

describe('HttpThread', () => {
  beforeEach(() => {
    client = new ThreadedHttpClient(thread);
  });

  it('answers many calls made at once, each with its own response', async () => {
    handler = (req, res, body) => res.end(`${req.url} ${body}`);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => client.request(`${baseUrl}/n${i}`, { method: 'POST', body: `b${i}` }).then((r) => r.text())));
    expect(answers).toEqual(Array.from({ length: 100 }, (_, i) => `/n${i} b${i}`));
    expect(thread.inFlight).toBe(0);
  });

  it('a guarded client checks the address in the thread, when connecting: a name that resolves to loopback is refused', async () => {
    const guarded = new ThreadedHttpClient(thread, { guarded: true });
    try {
      const port = (server.address() as AddressInfo).port;
      const error: unknown = await guarded.request(`http://localhost:${port}/`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlockedAddressError);
      expect(String((error as Error).message)).toMatch(/localhost.*(127\.0\.0\.1|::1)/);
      expect(connections).toHaveLength(0);
    } finally {
      await guarded.close();
    }
  });

  it('a thread that stops fails the calls it held, and the next call runs on a new one', async () => {
    handler = () => undefined; // never answers
    const held = client.request(`${baseUrl}/hang`).catch((e: unknown) => e);
    while (connections.length === 0) await new Promise((r) => setTimeout(r, 5));
    await thread.stop();
    expect(String(await held)).toMatch(/stopped/);
    handler = (_req, res) => res.end('again');
    expect(await (await client.request(baseUrl)).text()).toBe('again');
  });
});
