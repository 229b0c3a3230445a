/**
 * The SSRF guard for every URL otpgate calls on someone else's behalf (the generic HTTP provider,
 * outgoing webhooks).
 *
 * Two checks, on purpose:
 *  - `checkPublicUrl` at save time: the URL parses, uses https (http only when insecure URLs are
 *    allowed), carries no credentials, and every address its host resolves to is public. Its
 *    `reason` is a sentence meant for an API error detail.
 *  - `postJson` at send time: the request goes through request-filtering-agent, and the addresses
 *    are checked again when the socket connects, so a host that resolved to a public address at
 *    save time and to 127.0.0.1 now (DNS rebinding) is still refused. Redirects are never
 *    followed (a redirect to an internal address would bypass both checks).
 *
 * `allowInsecure` (development, tests) lifts the address rules and allows http.
 */
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

export type HostLookup = (host: string) => Promise<{ address: string; family: number }[]>;

export interface CheckUrlOptions {
  allowInsecure: boolean;
  /** Resolves a host name to all its addresses (default: the system resolver, like the connection will). */
  lookup?: HostLookup;
}

/** Thrown by `postJson` when the destination address is not public (the connection was never opened). */
export class BlockedAddressError extends Error {
  readonly code = 'ssrf_blocked';
  constructor(message: string) {
    super(message);
    this.name = 'BlockedAddressError';
  }
}

const RANGE_TEXT: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8 or ::)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (169.254.0.0/16 or fe80::/10, where cloud metadata endpoints live)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)',
  reserved: 'a reserved or documentation address',
  uniqueLocal: 'a unique-local IPv6 address (fc00::/7)',
  deprecatedSiteLocal: 'a site-local IPv6 address (fec0::/10)',
  rfc6052: 'a NAT64 address (64:ff9b::/96)',
  rfc6145: 'an IPv4-translated IPv6 address (::ffff:0:0:0/96)',
  '6to4': 'a 6to4 address (2002::/16)',
  teredo: 'a Teredo address (2001::/32)',
};

/**
 * Why an IP address is not a public unicast address, as a noun phrase ("a private address (…)"),
 * or undefined when it is public. The rule is ipaddr.js's `unicast` range (the one
 * request-filtering-agent enforces at connect time), plus IPv4-compatible IPv6 (::/96).
 */
export function nonPublicAddress(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'not a readable IP address';
  }
  const range = parsed.range();
  if (parsed.kind() === 'ipv6' && range === 'ipv4Mapped') {
    const inner = (parsed as ipaddr.IPv6).toIPv4Address();
    const innerWhy = nonPublicAddress(inner.toString());
    return innerWhy
      ? `an IPv4-mapped IPv6 address of ${innerWhy}`
      : 'an IPv4-mapped IPv6 address (::ffff:0:0/96); use the IPv4 address itself';
  }
  if (range !== 'unicast') return RANGE_TEXT[range] ?? `a special-purpose address (${range})`;
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0)) {
    return 'an IPv4-compatible IPv6 address (::/96, deprecated)';
  }
  return undefined;
}

/** The checks that need no DNS: parses, allowed scheme, no credentials in the URL. */
export function checkUrlShape(raw: string, allowInsecure: boolean): UrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'The URL could not be parsed.' };
  }
  if (url.protocol !== 'https:' && !(allowInsecure && url.protocol === 'http:')) {
    const allowed = allowInsecure ? 'http or https' : 'https';
    return { ok: false, reason: `The URL must use ${allowed} (it uses "${url.protocol.replace(/:$/, '')}").` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'The URL must not contain a user name or password.' };
  }
  if (url.hostname === '') return { ok: false, reason: 'The URL has no host.' };
  return { ok: true, url };
}

/** The URL's host without the brackets of an IPv6 literal. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

const systemLookup: HostLookup = async (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/**
 * The save-time check: the URL is acceptable and (unless `allowInsecure`) every address its host
 * resolves to is public. Never throws.
 */
export async function checkPublicUrl(raw: string, opts: CheckUrlOptions): Promise<UrlCheck> {
  const shape = checkUrlShape(raw, opts.allowInsecure);
  if (!shape.ok) return shape;
  const { url } = shape;
  const host = bareHost(url);
  // RFC 6761: `localhost` and its subdomains are loopback whatever a resolver says (and some
  // resolvers cannot answer for `localhost.` at all, which must not be the only reason it is refused).
  if (!opts.allowInsecure && /^(?:.+\.)?localhost\.?$/i.test(host)) {
    return { ok: false, reason: `The host "${host}" is a loopback name (localhost); only public addresses are allowed.` };
  }

  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await (opts.lookup ?? systemLookup)(host)).map((a) => a.address);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) return { ok: false, reason: `The host "${host}" could not be resolved.` };
  }
  if (opts.allowInsecure) return { ok: true, url };

  for (const address of addresses) {
    const why = nonPublicAddress(address);
    if (why) {
      const subject = address === host ? `The address ${address}` : `The host "${host}" resolves to ${address}, which`;
      return { ok: false, reason: `${subject} is ${why}; only public addresses are allowed.` };
    }
  }
  return { ok: true, url };
}

// ---------------------------------------------------------------------------------------------
// postJson
// ---------------------------------------------------------------------------------------------

type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | dns.LookupAddress[], family?: number) => void;

/**
 * The connect-time resolver for the strict agents and the webhook client (net.connect's `lookup`):
 * the system resolver (or `resolve`), then the same rule as `checkPublicUrl`, failing with a typed
 * error. request-filtering-agent wraps it and checks again. An IP literal is never looked up: check
 * it with `literalAddressRefusal` first.
 */
export function guardedLookup(resolve: HostLookup | undefined) {
  return (hostname: string, options: dns.LookupOptions | number | undefined, callback: LookupCallback): void => {
    const wantAll = typeof options === 'object' && options !== null && options.all === true;
    const base: dns.LookupOptions = typeof options === 'object' && options !== null ? options : typeof options === 'number' ? { family: options } : {};
    if (resolve) {
      resolve(hostname).then((addresses) => check(null, addresses), (err: NodeJS.ErrnoException) => check(err, []));
    } else {
      dns.lookup(hostname, { ...base, all: true }, check);
    }
    function check(err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]): void {
      if (err) return callback(err);
      for (const { address } of addresses) {
        const why = nonPublicAddress(address);
        if (why) return callback(new BlockedAddressError(`the host "${hostname}" resolves to ${address}, which is ${why}`));
      }
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      if (wantAll) return callback(null, addresses);
      return callback(null, first.address, first.family);
    }
  };
}

/** Why a URL whose host is an IP literal may not be reached (not public), or undefined. */
export function literalAddressRefusal(target: URL): string | undefined {
  const host = bareHost(target);
  const why = isIP(host) !== 0 ? nonPublicAddress(host) : undefined;
  return why ? `the address ${host} is ${why}` : undefined;
}

/**
 * Keep-alive: a connection is checked when it is opened (its address, after the lookup), so reusing
 * it is safe: it still leads to the address that was checked, whatever the name resolves to now (a
 * rebinding only reaches new connections, which are checked again). Without it every webhook paid a
 * TCP (and TLS) handshake, and a busy endpoint's deliveries fell far behind the events.
 * Node's agent closes an idle connection before the server's `Keep-Alive: timeout` says it would.
 */
const KEEP_ALIVE = { keepAlive: true, timeout: 30_000 } as const;
const agents = {
  strict: {
    http: new RequestFilteringHttpAgent({ ...KEEP_ALIVE, allowPrivateIPAddress: false, allowMetaIPAddress: false }),
    https: new RequestFilteringHttpsAgent({ ...KEEP_ALIVE, allowPrivateIPAddress: false, allowMetaIPAddress: false }),
  },
  insecure: {
    http: new RequestFilteringHttpAgent({ ...KEEP_ALIVE, allowPrivateIPAddress: true, allowMetaIPAddress: true }),
    https: new RequestFilteringHttpsAgent({ ...KEEP_ALIVE, allowPrivateIPAddress: true, allowMetaIPAddress: true }),
  },
};

/** request-filtering-agent's own refusal ("DNS lookup 127.0.0.1(…) is not allowed. Because, …"). */
const AGENT_REFUSAL = /is not allowed\. Because/;

export interface PostJsonOptions {
  /** Private addresses allowed (development). */
  allowInsecure: boolean;
  /** Ends the request (connecting, waiting or reading the answer). */
  signal?: AbortSignal;
  /** The response body is cut at this many bytes (default 64 KiB). */
  maxResponseBytes?: number;
  /** How the host is resolved when connecting (default: the system resolver); its answer is checked all the same. */
  lookup?: HostLookup;
}

export interface PostJsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const err = new Error('The request was aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * POSTs `body` to `url` (http or https) and returns the answer, whatever its status: a 3xx is
 * returned as is, never followed. Throws `BlockedAddressError` when the destination address is
 * not public (unless `allowInsecure`), and the transport's error on a network failure or abort.
 * The scheme is not checked here: that is `checkPublicUrl`'s job, when the URL is saved.
 */
export function postJson(url: string, body: string, headers: Record<string, string>, opts: PostJsonOptions): Promise<PostJsonResponse> {
  return new Promise<PostJsonResponse>((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new TypeError('postJson: the URL could not be parsed'));
      return;
    }
    const isHttps = target.protocol === 'https:';
    if (!isHttps && target.protocol !== 'http:') {
      reject(new TypeError(`postJson: unsupported scheme ${target.protocol}`));
      return;
    }
    const { signal } = opts;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    if (!opts.allowInsecure) {
      // A literal IP needs no lookup: refuse it here with the typed error (the agent would refuse it too).
      const why = literalAddressRefusal(target);
      if (why) {
        reject(new BlockedAddressError(why));
        return;
      }
    }

    const maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const outgoing: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'otpgate' };
    for (const [name, value] of Object.entries(headers)) outgoing[name.toLowerCase()] = value;
    outgoing['content-length'] = String(Buffer.byteLength(body));

    const mode = opts.allowInsecure ? agents.insecure : agents.strict;
    const requestOptions: https.RequestOptions = {
      method: 'POST',
      headers: outgoing,
      agent: isHttps ? mode.https : mode.http,
    };
    if (!opts.allowInsecure) requestOptions.lookup = guardedLookup(opts.lookup) as unknown as https.RequestOptions['lookup'];

    let settled = false;
    let res: http.IncomingMessage | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (err: unknown): void =>
      finish(() => {
        if (!opts.allowInsecure && err instanceof Error && !(err instanceof BlockedAddressError) && AGENT_REFUSAL.test(err.message)) {
          reject(new BlockedAddressError(err.message));
        } else {
          reject(err);
        }
      });
    const onAbort = (): void => {
      const err = abortError(signal as AbortSignal);
      fail(err);
      req.destroy(err);
      res?.destroy();
    };

    const req = (isHttps ? https : http).request(target, requestOptions, (response) => {
      res = response;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        const status = response.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        finish(() => resolve({ status, headers: { ...response.headers }, body: text }));
      };
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = maxBytes - size;
        if (chunk.length >= room) {
          chunks.push(chunk.subarray(0, room));
          size = maxBytes;
          done();
          response.destroy(); // the rest is not read
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      response.on('end', done);
      response.on('error', fail);
      response.on('aborted', () => fail(new Error('The response was cut off')));
    });
    req.on('error', fail);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
