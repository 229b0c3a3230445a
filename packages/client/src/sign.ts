import { createHash, createHmac } from 'node:crypto';

/** What a request signature covers (API.md, "Signed requests"). */
export interface SignRequestInput {
  /** The API key's signing secret. */
  secret: string;
  /** Unix time in whole seconds, sent as `X-Timestamp`. */
  timestamp: number;
  /** The HTTP method; upper-cased before signing. */
  method: string;
  /** The path and query exactly as sent, e.g. `/v1/sandbox/messages?to=%2B5511987654321`. */
  pathWithQuery: string;
  /** The exact body bytes sent. @default '' (no body) */
  body?: string | Uint8Array;
}

/** The two headers of a signed request. */
export interface SignatureHeaders {
  'X-Timestamp': string;
  'X-Signature': string;
}

/**
 * Signs a request: `v1=` + hex HMAC-SHA256 under the secret of
 * `timestamp + "\n" + METHOD + "\n" + path-with-query + "\n" + hex SHA-256 of the body`.
 * Pure: the same input always gives the same signature.
 * @default an absent body is hashed as the empty string
 * @example
 * const headers = signRequest({ secret, timestamp: Math.floor(Date.now() / 1000), method: 'POST',
 *   pathWithQuery: '/v1/verifications', body: JSON.stringify({ identifier: '+5511987654321' }) });
 * // → { 'X-Timestamp': '1700000000', 'X-Signature': 'v1=5f0c…' }
 */
export function signRequest(input: SignRequestInput): SignatureHeaders {
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) throw new TypeError('timestamp must be whole unix seconds');
  const timestamp = String(input.timestamp);
  const bodyHash = createHash('sha256')
    .update(input.body ?? '')
    .digest('hex');
  const payload = `${timestamp}\n${input.method.toUpperCase()}\n${input.pathWithQuery}\n${bodyHash}`;
  const signature = createHmac('sha256', input.secret).update(payload).digest('hex');
  return { 'X-Timestamp': timestamp, 'X-Signature': `v1=${signature}` };
}
