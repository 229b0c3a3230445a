/**
 * A small HTTP client for the provider APIs (WhatsApp Cloud API, Twilio) and outgoing webhooks: an undici
 * `Agent`, which keeps one keep-alive pool per origin (created on first use, dropped when its connections
 * are gone), closed by `close()`.
 *
 * Why not the global `fetch`: per call it costs several times the CPU of `Pool.request` (WHATWG streams,
 * Headers and Response objects) and much more garbage, on the hottest path of a send.
 *
 * Every response body is read (or discarded) before `request()` resolves, so a caller can never leak a socket
 * by not reading it; the read is bounded (`maxBodyBytes`, 1 MiB by default): past that the body is dropped,
 * the connection closed, and `text()` / `json()` reject with `ResponseTooLargeError` (`status` and `headers`
 * are still there). The AbortSignal ends the call at any point (connecting, waiting, reading) and makes
 * `request()` reject. No retries here: the resilience layer (cockatiel) does that.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { LookupFunction } from 'node:net';
import { Agent, type Dispatcher } from 'undici';

export interface HttpRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal | null;
  /** A deadline for the whole call (connecting, waiting, reading): past it the call ends with HttpTimeoutError. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; a repeated header's values joined with `, ` (as fetch's `Headers.get`). */
  headers: Readonly<Record<string, string>>;
  /** The body as UTF-8; rejects with ResponseTooLargeError when it was over the limit. */
  text(): Promise<string>;
  /** The body parsed as JSON; rejects on invalid JSON or with ResponseTooLargeError. */
  json(): Promise<unknown>;
}

/** What callers of outgoing HTTP use: HttpClient, or its counterpart on a worker thread (net/http-thread.ts). */
export interface HttpRequester {
  /** Sends one request and reads its whole (bounded) body. Throws on a transport error or an abort. */
  request(url: string | URL, init?: HttpRequestOptions): Promise<HttpResponse>;
  /** Closes every pool: calls in flight get a grace period, then their connections are cut. */
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** The most body bytes read from one response (default 1 MiB). */
  maxBodyBytes?: number;
  /** Connections per origin (default: no limit). */
  connections?: number | null;
  /** How long an idle connection is kept, unless the server says less (undici's default: 4 s). */
  keepAliveTimeout?: number;
  /** How long `close()` waits for calls in flight before cutting them (default 1 s). */
  closeGraceMs?: number;
  /**
   * How new connections resolve their host (net.connect's `lookup`): the SSRF guard's checked resolver for
   * webhooks. An IP literal is not looked up: the caller checks it before the call.
   */
  lookup?: LookupFunction;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** A response body over the client's limit: it was not read to its end. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor(readonly limit: number) {
    super(`response body over ${limit} bytes`);
  }
}

/** A response as read off the wire (internal). */
interface ReadResponse {
  status: number;
  headers: Record<string, string>;
  chunks: Buffer[];
  size: number;
  tooLarge: boolean;
}

/** Lower-case names (undici's already are); a repeated header's values joined with `, `. */
function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** A call that did not finish within its `timeoutMs`. */
export class HttpTimeoutError extends Error {
  override readonly name = 'HttpTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

export class HttpClient implements HttpRequester {
  private readonly agent: Agent;
  /** Ends each call in flight (close() past its grace: undici's Agent.destroy() after close() no longer reaches them). */
  private readonly inFlight = new Set<(error: Error) => void>();
  private readonly maxBodyBytes: number;
  private closed = false;

  constructor(private readonly options: HttpClientOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const opts: Agent.Options = { connections: options.connections ?? null };
    if (options.keepAliveTimeout !== undefined) opts.keepAliveTimeout = options.keepAliveTimeout;
    if (options.lookup) opts.connect = { lookup: options.lookup };
    this.agent = new Agent(opts);
  }

  /** Sends one request and reads its whole (bounded) body. Throws on a transport error or an abort. */
  async request(url: string | URL, init: HttpRequestOptions = {}): Promise<HttpResponse> {
    if (this.closed) throw new Error('HTTP client closed');
    const target = typeof url === 'string' ? new URL(url) : url;
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`unsupported protocol ${target.protocol}`);
    init.signal?.throwIfAborted();
    const read = await this.dispatch(target, init);
    // undici hands a finished connection back to its pool one event-loop turn after the response ends
    // (a setImmediate, so that a server closing it despite keep-alive is noticed first). Waiting that turn
    // lets the caller's next call reuse it; otherwise back-to-back calls would open a second connection.
    if (!read.tooLarge) await nextTurn();

    const limit = this.maxBodyBytes;
    const { chunks, size, tooLarge } = read;
    const text = async (): Promise<string> => {
      if (tooLarge) throw new ResponseTooLargeError(limit);
      return chunks.length === 1 ? chunks[0]!.toString('utf-8') : Buffer.concat(chunks, size).toString('utf-8');
    };
    return { status: read.status, headers: read.headers, text, json: async () => JSON.parse(await text()) as unknown };
  }

  /**
   * One request through undici's handler API (`dispatch`): the body arrives as chunks, with none of the
   * Readable stream and async iterator `Pool.request` builds per response (a fifth of a live send's CPU
   * went to them). Resolves once the whole body is in, or as soon as it is known to be over the limit
   * (the connection is then cut, so the rest is never read); rejects on a transport error or an abort.
   */
  private dispatch(target: URL, init: HttpRequestOptions): Promise<ReadResponse> {
    const limit = this.maxBodyBytes;
    const signal = init.signal ?? undefined;
    const method = init.method ?? 'GET';
    return new Promise<ReadResponse>((resolve, reject) => {
      const out: ReadResponse = { status: 0, headers: {}, chunks: [], size: 0, tooLarge: false };
      let controller: Dispatcher.DispatchController | undefined;
      let settled = false;
      // One timer, not an AbortController per call (what a timeout by signal costs: a quarter of a call's CPU).
      const deadline =
        init.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              const error = new HttpTimeoutError(init.timeoutMs ?? 0);
              settle(error); // first: the abort below reports itself to onResponseError at once
              controller?.abort(error);
            }, init.timeoutMs);
      const settle = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(cut);
        if (deadline) clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve(out);
        else reject(error instanceof Error ? error : new Error(String(error)));
      };
      const onAbort = (): void => {
        const reason: unknown = signal?.reason ?? new Error('aborted');
        if (controller) controller.abort(reason instanceof Error ? reason : new Error(String(reason)));
        settle(reason);
      };
      const overLimit = (c: Dispatcher.DispatchController): void => {
        out.tooLarge = true;
        out.chunks = [];
        settle(); // first: the abort below reports itself to onResponseError at once
        c.abort(new ResponseTooLargeError(limit)); // cuts the connection: the rest is never read
      };
      const cut = (error: Error): void => {
        settle(error);
        controller?.abort(error);
      };
      this.inFlight.add(cut);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.agent.dispatch(
        { origin: target.origin, path: `${target.pathname}${target.search}`, method, headers: init.headers ?? null, body: init.body ?? null },
        {
          onRequestStart(c) {
            controller = c;
            if (settled) c.abort(new Error('aborted')); // aborted or timed out while waiting for a connection
          },
          onResponseStart(c, statusCode, headers) {
            if (statusCode < 200) return; // 1xx: the real answer follows
            out.status = statusCode;
            out.headers = flattenHeaders(headers);
            out.chunks = [];
            out.size = 0;
            const declared = method === 'HEAD' ? 0 : Number(out.headers['content-length']);
            if (Number.isFinite(declared) && declared > limit) overLimit(c);
          },
          onResponseData(c, chunk) {
            if (out.tooLarge) return;
            out.size += chunk.length;
            if (out.size > limit) overLimit(c);
            else out.chunks.push(chunk);
          },
          onResponseEnd() {
            settle();
          },
          onResponseError(_c, error) {
            settle(error);
          },
        },
      );
    });
  }

  /** Closes every pool: calls in flight get `closeGraceMs` to finish, then their connections are cut. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const grace = this.options.closeGraceMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), grace);
      timer.unref();
    });
    const outcome = await Promise.race([this.agent.close().then(() => 'closed' as const), late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      const error = new Error('HTTP client closed');
      for (const cut of [...this.inFlight]) cut(error);
      await this.agent.destroy(error);
    }
  }
}

/**
 * The body as text, or '' when it was over the limit: for callers whose outcome follows the status (a 2xx
 * with an unreadable body is still an accepted message). Other errors are thrown.
 */
export async function readBodyText(res: HttpResponse): Promise<string> {
  try {
    return await res.text();
  } catch (err) {
    if (err instanceof ResponseTooLargeError) return '';
    throw err;
  }
}
