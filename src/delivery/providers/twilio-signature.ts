/**
 * Twilio's request signature (`X-Twilio-Signature`), computed and checked exactly as twilio-node does it
 * (src/webhooks/webhooks.ts: getExpectedTwilioSignature / validateRequest):
 *
 *   base64(HMAC-SHA1(authToken, url + name1 + value1 + name2 + value2 + …))
 *
 * with the POST parameters sorted by name, and a parameter with several values contributing
 * `name + value` once per distinct value, in sorted order.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';

export type TwilioParams = Record<string, string | string[]>;

function paramData(name: string, value: string | string[]): string {
  if (Array.isArray(value)) {
    return Array.from(new Set(value))
      .sort()
      .map((v) => name + v)
      .join('');
  }
  return name + value;
}

/** The signature Twilio sends in `X-Twilio-Signature` for a POST of `params` to `url` (the full URL, query string included). */
export function twilioSignature(authToken: string, url: string, params: TwilioParams): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, name) => acc + paramData(name, params[name] as string | string[]), url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

// ---- URL variants: Twilio's back end is not consistent about the port and the query string's escaping,
// so twilio-node accepts a signature over any of these (validateRequest). The same here.

/** `new URL()` drops a default port; this puts the scheme's standard port back (twilio-node's buildUrlWithStandardPort). */
function withStandardPort(u: URL): string {
  const port = u.protocol === 'https:' ? ':443' : ':80';
  let out = u.protocol ? `${u.protocol}//` : '';
  out += u.username;
  out += u.password ? `:${u.password}` : '';
  out += u.username || u.password ? '@' : '';
  out += u.host ? u.host + port : '';
  out += u.pathname + u.search + u.hash;
  return out;
}

function addPort(u: URL): string {
  return u.port ? u.toString() : withStandardPort(u);
}

function removePort(u: URL): string {
  const copy = new URL(u);
  copy.port = '';
  return copy.toString();
}

/** The query string re-encoded the legacy `querystring` way (a `'` stays unescaped, `+` becomes `%20`). */
function withLegacyQuerystring(url: string): string {
  const u = new URL(url);
  if (!u.search) return url;
  const qs = parseQuery(u.search.slice(1));
  u.search = '';
  return `${u.toString()}?${stringifyQuery(qs)}`;
}

function urlVariants(url: string): string[] {
  const u = new URL(url);
  const without = removePort(u);
  const withPort = addPort(u);
  return Array.from(new Set([without, withPort, withLegacyQuerystring(without), withLegacyQuerystring(withPort)]));
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf-8');
  const y = Buffer.from(b, 'utf-8');
  return x.length === y.length && timingSafeEqual(x, y);
}

function isParams(value: unknown): value is TwilioParams {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  return Object.values(value).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((e) => typeof e === 'string')));
}

/**
 * Whether `header` (the request's `X-Twilio-Signature`) is Twilio's signature for a POST of `params` to `url`
 * with this auth token. Accepts the URL with and without its port (the standard one added when absent) and with
 * the legacy query-string encoding, as twilio-node does. Compares in constant time; never throws (a malformed URL,
 * a missing header or non-string parameters are simply not valid).
 */
export function verifyTwilioSignature(authToken: string, url: string, params: TwilioParams, header: string | undefined): boolean {
  if (typeof header !== 'string' || header.length === 0 || !authToken || !isParams(params)) return false;
  let variants: string[];
  try {
    variants = urlVariants(url);
  } catch {
    return false;
  }
  let valid = false;
  // Every variant is computed and compared (no early exit), so the time taken does not depend on which one matched.
  for (const variant of variants) {
    if (sameString(header, twilioSignature(authToken, variant, params))) valid = true;
  }
  return valid;
}
