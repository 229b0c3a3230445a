import { toProblem, unavailableProblem, type Result } from './problem.js';
import { signRequest } from './sign.js';

/** Options every client method takes last. */
export interface RequestOptions {
  /** Aborts the request; the client's `timeoutMs` applies as well. */
  signal?: AbortSignal;
}

/** Options of the POST methods. */
export interface PostOptions extends RequestOptions {
  /** Sent as `Idempotency-Key`: the same key and body within 24 h replays the first answer. */
  idempotencyKey?: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';
export type Query = Record<string, string | number | boolean | undefined>;

/** One call: everything the transport needs beyond method and path. */
export interface Call extends PostOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** This call's timeout in place of the client's (a long-poll holds the answer longer). */
  timeoutMs?: number;
}

export interface TransportConfig {
  apiKey: string;
  baseUrl: string;
  signingSecret?: string;
  fetch: typeof fetch;
  timeoutMs: number;
  /** Unix milliseconds; injectable for tests. */
  now: () => number;
}

const USER_AGENT = 'otpgate-client/0.1.0';

/** Encodes a path segment (`/v1/identities/{reference}`). */
export const seg = (value: string): string => encodeURIComponent(value);

/** `?a=1&b=2` of the defined members, or `''`. */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.append(name, String(value));
  const s = params.toString();
  return s ? `?${s}` : '';
}

/**
 * The HTTP layer of the client: headers, signature, timeout, and the mapping of every outcome to a
 * `Result` (it never throws for an HTTP or network outcome).
 */
export class Transport {
  private readonly base: URL;

  constructor(private readonly config: TransportConfig) {
    this.base = new URL(config.baseUrl.replace(/\/+$/, '') + '/');
  }

  /** The client's timeout for one request (ms). */
  get timeoutMs(): number {
    return this.config.timeoutMs;
  }

  /** The absolute URL of a path of the API. */
  url(pathWithQuery: string): URL {
    return new URL(pathWithQuery.replace(/^\/+/, ''), this.base);
  }

  async request<T>(method: HttpMethod, path: string, call: Call = {}): Promise<Result<T>> {
    const url = this.url(path + queryString(call.query));
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': USER_AGENT, 'X-API-Key': this.config.apiKey, ...call.headers };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (call.idempotencyKey !== undefined) headers['Idempotency-Key'] = call.idempotencyKey;
    if (this.config.signingSecret !== undefined) {
      const timestamp = Math.floor(this.config.now() / 1000);
      const signed = signRequest({ secret: this.config.signingSecret, timestamp, method, pathWithQuery: url.pathname + url.search, body: body ?? '' });
      Object.assign(headers, signed);
    }

    const timeoutMs = call.timeoutMs ?? this.config.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      const doFetch = this.config.fetch;
      response = await doFetch(url, { method, headers, body, signal, redirect: 'manual' });
      text = await response.text();
    } catch (error) {
      return { ok: false, problem: unavailableProblem(describeFailure(error, timeout, timeoutMs)), status: 0, requestId: null };
    }
    return parseResponse<T>(response, text);
  }
}

function describeFailure(error: unknown, timeout: AbortSignal, timeoutMs: number): string {
  if (timeout.aborted) return `otpgate did not answer within ${timeoutMs} ms`;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `otpgate could not be reached (${error.message}${cause})`;
  }
  return 'otpgate could not be reached';
}

/** 2xx JSON → data (an empty body → null); anything else → a problem. */
function parseResponse<T>(response: Response, text: string): Result<T> {
  const status = response.status;
  const requestId = response.headers.get('x-request-id');
  let parsed: unknown = undefined;
  let readable = text.length === 0;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
      readable = true;
    } catch {
      readable = false;
    }
  }
  if (status >= 200 && status < 300) {
    if (!readable) return { ok: false, problem: unavailableProblem(`otpgate answered HTTP ${status} with a body that is not JSON`, { upstream_status: status }), status, requestId };
    return { ok: true, data: (parsed ?? null) as T, status, requestId };
  }
  return { ok: false, problem: toProblem(status, parsed, response.headers.get('retry-after')), status, requestId };
}
