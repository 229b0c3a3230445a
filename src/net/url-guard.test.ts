import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BlockedAddressError, checkPublicUrl, postJson, type HostLookup } from './url-guard.js';

/** A resolver that answers from a table (and fails for unknown names, like NXDOMAIN). */
function fakeLookup(table: Record<string, string[]>): HostLookup {
  return async (host) => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

describe('checkPublicUrl', () => {
  const refused: [string, string, RegExp][] = [
    ['loopback', '127.0.0.1', /loopback/],
    ['loopback (other)', '127.8.9.10', /loopback/],
    ['private 10/8', '10.1.2.3', /private/],
    ['private 172.16/12', '172.16.0.1', /private/],
    ['private 172.31', '172.31.255.254', /private/],
    ['private 192.168/16', '192.168.1.10', /private/],
    ['link-local', '169.254.1.1', /link-local/],
    ['cloud metadata', '169.254.169.254', /link-local/],
    ['CGNAT', '100.64.0.1', /carrier-grade NAT/],
    ['0.0.0.0/8', '0.0.0.0', /unspecified/],
    ['0.0.0.0/8 (other)', '0.1.2.3', /unspecified/],
    ['multicast', '224.0.0.1', /multicast/],
    ['broadcast', '255.255.255.255', /broadcast/],
    ['reserved 240/4', '240.0.0.1', /reserved/],
    ['documentation', '192.0.2.10', /reserved/],
    ['IPv6 loopback', '::1', /loopback/],
    ['IPv6 unspecified', '::', /unspecified/],
    ['IPv6 unique-local', 'fd00::1', /unique-local/],
    ['IPv6 unique-local fc', 'fc00::abcd', /unique-local/],
    ['IPv6 link-local', 'fe80::1', /link-local/],
    ['IPv6 multicast', 'ff02::1', /multicast/],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1', /IPv4-mapped.*loopback/],
    ['IPv4-mapped private', '::ffff:10.0.0.1', /IPv4-mapped.*private/],
    ['IPv4-mapped metadata', '::ffff:169.254.169.254', /IPv4-mapped.*link-local/],
    ['IPv4-compatible', '::7f00:1', /IPv4-compatible/],
    ['IPv4-compatible (dotted)', '::127.0.0.1', /IPv4-compatible|loopback/],
    ['NAT64', '64:ff9b::a00:1', /NAT64/],
    ['6to4', '2002:a00:1::1', /6to4/],
  ];

  it.each(refused)('refuses a host resolving to a %s address (%s)', async (_label, address, why) => {
    const result = await checkPublicUrl('https://hooks.example.com/otp', { allowInsecure: false, lookup: fakeLookup({ 'hooks.example.com': [address] }) });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(why);
    expect(result.reason).toContain(address);
    expect(result.reason).toContain('hooks.example.com');
  });

  it.each(refused)('refuses a literal %s address (%s) in the URL', async (_label, address, why) => {
    const host = address.includes(':') ? `[${address}]` : address;
    const lookup = async () => {
      throw new Error('a literal address must not be looked up');
    };
    const result = await checkPublicUrl(`https://${host}/otp`, { allowInsecure: false, lookup });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(why);
  });

  it.each([
    ['public IPv4', ['93.184.216.34']],
    ['public IPv6', ['2606:2800:220:1:248:1893:25c8:1946']],
    ['several public addresses', ['93.184.216.34', '2606:4700::6810:84e5']],
    ['just outside 172.16/12', ['172.32.0.1']],
    ['just outside CGNAT', ['100.128.0.1']],
  ])('accepts a host resolving to %s', async (_label, addresses) => {
    const result = await checkPublicUrl('https://hooks.example.com/otp?x=1', { allowInsecure: false, lookup: fakeLookup({ 'hooks.example.com': addresses }) });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.url.href).toBe('https://hooks.example.com/otp?x=1');
  });

  it('accepts a public literal address without a lookup', async () => {
    const result = await checkPublicUrl('https://93.184.216.34/hook', { allowInsecure: false, lookup: fakeLookup({}) });
    expect(result.ok).toBe(true);
  });

  it('refuses when any one of the resolved addresses is private (a mixed answer)', async () => {
    const result = await checkPublicUrl('https://mixed.example.com/', { allowInsecure: false, lookup: fakeLookup({ 'mixed.example.com': ['93.184.216.34', '10.0.0.7'] }) });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/10\.0\.0\.7.*private/);
  });

  it('sees through other spellings of 127.0.0.1 (the URL parser normalises them)', async () => {
    for (const host of ['2130706433', '0x7f.1', '017700000001', '127.1']) {
      const result = await checkPublicUrl(`https://${host}/`, { allowInsecure: false, lookup: fakeLookup({}) });
      expect(result, host).toMatchObject({ ok: false });
    }
  });

  it('refuses http unless insecure URLs are allowed, and other schemes always', async () => {
    const lookup = fakeLookup({ 'hooks.example.com': ['93.184.216.34'] });
    const http = await checkPublicUrl('http://hooks.example.com/', { allowInsecure: false, lookup });
    expect(http.ok).toBe(false);
    if (!http.ok) expect(http.reason).toMatch(/must use https/);
    expect((await checkPublicUrl('http://hooks.example.com/', { allowInsecure: true, lookup })).ok).toBe(true);
    for (const raw of ['ftp://hooks.example.com/', 'file:///etc/passwd', 'gopher://hooks.example.com/']) {
      expect((await checkPublicUrl(raw, { allowInsecure: true, lookup })).ok, raw).toBe(false);
    }
  });

  it('refuses a URL with a user name or password, without echoing them', async () => {
    const lookup = fakeLookup({ 'hooks.example.com': ['93.184.216.34'] });
    for (const raw of ['https://user:hunter2@hooks.example.com/', 'https://user@hooks.example.com/', 'https://:hunter2@hooks.example.com/']) {
      const result = await checkPublicUrl(raw, { allowInsecure: true, lookup });
      expect(result.ok, raw).toBe(false);
      if (!result.ok) {
        expect(result.reason).toMatch(/user name or password/);
        expect(result.reason).not.toContain('hunter2');
      }
    }
  });

  it('refuses an unresolvable host and an unparsable URL', async () => {
    const lookup = fakeLookup({});
    const nx = await checkPublicUrl('https://nowhere.invalid/', { allowInsecure: false, lookup });
    expect(nx).toEqual({ ok: false, reason: expect.stringMatching(/nowhere\.invalid.*could not be resolved/) });
    const empty = await checkPublicUrl('https://empty.example/', { allowInsecure: false, lookup: async () => [] });
    expect(empty.ok).toBe(false);
    expect((await checkPublicUrl('not a url', { allowInsecure: false, lookup })).ok).toBe(false);
    // Still refused when insecure URLs are allowed: the host must resolve.
    expect((await checkPublicUrl('http://nowhere.invalid/', { allowInsecure: true, lookup })).ok).toBe(false);
  });

  it('lets private and loopback addresses through when insecure URLs are allowed', async () => {
    const lookup = fakeLookup({ 'dev.internal': ['10.0.0.5'] });
    expect((await checkPublicUrl('http://dev.internal:8080/hook', { allowInsecure: true, lookup })).ok).toBe(true);
    expect((await checkPublicUrl('http://127.0.0.1:8080/hook', { allowInsecure: true, lookup })).ok).toBe(true);
  });

  it('refuses localhost names (RFC 6761), with or without the trailing dot, whatever the resolver says', async () => {
    const lookup = fakeLookup({ localhost: ['93.184.216.34'], 'localhost.': ['93.184.216.34'], 'api.localhost': ['93.184.216.34'] });
    for (const host of ['localhost', 'localhost.', 'api.localhost', 'LOCALHOST']) {
      const result = await checkPublicUrl(`https://${host}/`, { allowInsecure: false, lookup });
      expect(result.ok, host).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/loopback name/);
    }
    expect((await checkPublicUrl('https://localhost/', { allowInsecure: true })).ok).toBe(true);
  });

  it('uses the system resolver by default (a name under .invalid never resolves)', async () => {
    const result = await checkPublicUrl('https://hooks.invalid/', { allowInsecure: false });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/could not be resolved/);
  });
});

describe('postJson', () => {
  let server: Server;
  let base: string;
  let received: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string }[];
  let connections: number;
  let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        received.push({ method: req.method, url: req.url, headers: req.headers, body });
        handler(req, res, body);
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received = [];
    connections = 0;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-answer': 'yes' });
      res.end('{"id":"m_1"}');
    };
  });

  it('refuses a loopback address at connect time when insecure URLs are not allowed (nothing checked it first)', async () => {
    await expect(postJson(`${base}/hook`, '{}', {}, { allowInsecure: false })).rejects.toBeInstanceOf(BlockedAddressError);
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('refuses a host name that resolves to loopback when connecting (the DNS-rebinding case)', async () => {
    const port = (server.address() as AddressInfo).port;
    const err = await postJson(`http://localhost:${port}/hook`, '{}', {}, { allowInsecure: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedAddressError);
    expect((err as Error).message).toMatch(/loopback/);
    expect(connections).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('posts the body and headers and returns the answer when insecure URLs are allowed', async () => {
    const res = await postJson(`${base}/hook?a=1`, '{"hello":"wörld"}', { 'X-Custom': 'v', 'Idempotency-Key': 'k1' }, { allowInsecure: true });
    expect(res.status).toBe(200);
    expect(res.body).toBe('{"id":"m_1"}');
    expect(res.headers['x-answer']).toBe('yes');
    expect(received).toHaveLength(1);
    const [got] = received;
    expect(got?.method).toBe('POST');
    expect(got?.url).toBe('/hook?a=1');
    expect(got?.body).toBe('{"hello":"wörld"}');
    expect(got?.headers['content-type']).toBe('application/json');
    expect(got?.headers['content-length']).toBe(String(Buffer.byteLength('{"hello":"wörld"}')));
    expect(got?.headers['x-custom']).toBe('v');
    expect(got?.headers['idempotency-key']).toBe('k1');
  });

  it('returns a redirect as is and never follows it', async () => {
    handler = (req, res) => {
      if (req.url === '/hook') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      } else {
        res.writeHead(200);
        res.end('followed');
      }
    };
    const res = await postJson(`${base}/hook`, '{}', {}, { allowInsecure: true });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/elsewhere');
    expect(received.map((r) => r.url)).toEqual(['/hook']);
  });

  it('returns non-2xx answers instead of throwing', async () => {
    handler = (_req, res) => {
      res.writeHead(503, { 'retry-after': '7' });
      res.end('busy');
    };
    const res = await postJson(`${base}/hook`, '{}', {}, { allowInsecure: true });
    expect(res).toMatchObject({ status: 503, body: 'busy' });
    expect(res.headers['retry-after']).toBe('7');
  });

  it('cuts the response body at maxResponseBytes', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.end('x'.repeat(200_000));
    };
    const res = await postJson(`${base}/hook`, '{}', {}, { allowInsecure: true, maxResponseBytes: 1000 });
    expect(res.body).toHaveLength(1000);
    const whole = await postJson(`${base}/hook`, '{}', {}, { allowInsecure: true });
    expect(whole.body).toHaveLength(64 * 1024);
  });

  it('ends the request when the signal aborts', async () => {
    handler = () => undefined; // never answers
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    await expect(postJson(`${base}/hook`, '{}', {}, { allowInsecure: true, signal: controller.signal })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(received).toHaveLength(1);
  });

  it('throws on a refused connection (callers map it to a network failure)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await postJson(`http://127.0.0.1:${port}/`, '{}', {}, { allowInsecure: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(BlockedAddressError);
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});
