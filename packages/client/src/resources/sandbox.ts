import type { Problem, Result } from '../problem.js';
import { seg, type PostOptions, type RequestOptions, type Transport } from '../transport.js';
import type {
  CreateSandboxInboxParams,
  Page,
  SandboxInbox,
  SandboxInboxCode,
  SandboxInboxGetParams,
  SandboxMessage,
  SandboxMessageListParams,
  WaitForCodeOptions,
} from '../types.js';

/** The longest the server holds one long-poll (`?wait=`, seconds). */
export const MAX_INBOX_WAIT_S = 60;
/** How long `waitForCode` waits when not told. */
export const DEFAULT_WAIT_FOR_CODE_MS = 60_000;

const CLOSED = new Set(['finished', 'canceled', 'expired']);

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** A failure `waitForCode` makes itself (no HTTP answer carried it: `status` 0). */
function synthesized(problem: Problem): Result<never> {
  return { ok: false, problem, status: 0, requestId: null };
}

/** `/v1/sandbox/inboxes`: virtual numbers and addresses that receive codes (test mode). */
export class SandboxInboxes {
  constructor(private readonly transport: Transport) {}

  /**
   * Rents an inbox (`POST /v1/sandbox/inboxes` → 201, `status: "waiting"`): a number in a fictitious
   * range, a number from the operator's pool (`source: 'pool'`), or an address at the sandbox domain.
   * @default a fictitious number; the server's code extractor; no `Idempotency-Key`
   * @example
   * const inbox = await client.sandbox.inboxes.create({ kind: 'email' });
   * if (inbox.ok) await client.verifications.create({ identifier: inbox.data.address });
   */
  create(params: CreateSandboxInboxParams, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', '/v1/sandbox/inboxes', { ...options, body: params });
  }

  /**
   * Reads an inbox: its status, latest `otp_code`, every OTP and message (`GET /v1/sandbox/inboxes/{id}`).
   * With `wait`, a long-poll: the server holds the answer until more than `after` codes have arrived,
   * the inbox closes, or `wait` seconds pass (the request's timeout is stretched to match).
   * @default no wait (answers at once); `after`: the count when the request arrives
   * @example
   * const inbox = await client.sandbox.inboxes.get('inb_4Qz…', { wait: 30, after: 0 });
   * if (inbox.ok && inbox.data.status === 'otp_received') console.warn(inbox.data.otp_code);
   */
  get(id: string, params: SandboxInboxGetParams = {}, options: RequestOptions = {}): Promise<Result<SandboxInbox>> {
    const wait = params.wait === undefined ? undefined : Math.max(0, Math.min(MAX_INBOX_WAIT_S, Math.floor(params.wait)));
    return this.transport.request('GET', `/v1/sandbox/inboxes/${seg(id)}`, {
      ...options,
      query: { wait, after: params.after },
      ...(wait ? { timeoutMs: wait * 1000 + this.transport.timeoutMs } : {}),
    });
  }

  /**
   * Waits for a code in an inbox and resolves to the latest one, looping on the long-poll so no
   * code is missed: a code that arrived before the call counts (unless `after` says it was seen),
   * and each poll asks for codes beyond `after`, so one landing between two polls ends the next at
   * once. Resolves to `request-timeout` (408, `status` 0) when none came in `timeoutMs`, and to
   * `invalid-state` (409, `status` 0) when the inbox closed without one.
   * @default timeoutMs 60000; after 0 (any code)
   * @example
   * const inbox = await otpgate.sandbox.inboxes.create({ kind: 'email' });
   * await signUp(inbox.data.address);                  // your app sends the code
   * const got = await otpgate.sandbox.inboxes.waitForCode(inbox.data.id, { timeoutMs: 30_000 });
   * if (got.ok) await typeCode(got.data.code);
   * // a resend: wait for the next one
   * const next = await otpgate.sandbox.inboxes.waitForCode(inbox.data.id, { after: got.data.otp_count });
   */
  async waitForCode(id: string, options: WaitForCodeOptions = {}): Promise<Result<SandboxInboxCode>> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_FOR_CODE_MS;
    const after = options.after ?? 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      const wait = Math.max(0, Math.min(MAX_INBOX_WAIT_S, Math.floor(left / 1000)));
      const res = await this.get(id, { wait, after }, options.signal ? { signal: options.signal } : {});
      if (!res.ok) return res;
      const inbox = res.data;
      const count = inbox.otp_count ?? inbox.otps?.length ?? 0;
      if (count > after && inbox.otp_code) return { ok: true, data: { code: inbox.otp_code, otp_count: count, inbox }, status: res.status, requestId: res.requestId };
      if (CLOSED.has(inbox.status)) {
        return synthesized({ type: 'invalid-state', title: 'The resource is not in a state that allows this', status: 409, detail: `The inbox is ${inbox.status} and received no code beyond the first ${after}.`, inbox_status: inbox.status });
      }
      if (Date.now() >= deadline || options.signal?.aborted) {
        return synthesized({ type: 'request-timeout', title: 'No code arrived in time', status: 408, detail: `No code beyond the first ${after} arrived in inbox ${id} within ${timeoutMs} ms.` });
      }
      // Under a second left: the server cannot hold that long; look again shortly.
      if (wait === 0) await sleep(Math.min(250, Math.max(0, deadline - Date.now())), options.signal);
    }
  }

  /**
   * Finishes an inbox while `waiting` or `otp_received` (`POST …/{id}/finish`); else 409 `invalid-state`.
   * A pool number goes back to the pool.
   * @default no `Idempotency-Key`
   * @example
   * await client.sandbox.inboxes.finish('inb_4Qz…');
   */
  finish(id: string, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', `/v1/sandbox/inboxes/${seg(id)}/finish`, { ...options, body: {} });
  }

  /**
   * Cancels an inbox while `waiting` (`POST …/{id}/cancel`); else 409 `invalid-state`.
   * @default no `Idempotency-Key`
   * @example
   * await client.sandbox.inboxes.cancel('inb_4Qz…');
   */
  cancel(id: string, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', `/v1/sandbox/inboxes/${seg(id)}/cancel`, { ...options, body: {} });
  }

  /**
   * Opens a new waiting window on the same inbox, without a second charge (`POST …/{id}/reorder`),
   * while `waiting` or `otp_received`; else 409 `invalid-state`.
   * @default no `Idempotency-Key`
   * @example
   * const again = await client.sandbox.inboxes.reorder('inb_4Qz…');
   * if (again.ok) console.warn(again.data.expires_at);
   */
  reorder(id: string, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', `/v1/sandbox/inboxes/${seg(id)}/reorder`, { ...options, body: {} });
  }
}

/** `/v1/sandbox`: every message sent in test mode is captured here instead of delivered. */
export class SandboxResource {
  readonly inboxes: SandboxInboxes;

  constructor(private readonly transport: Transport) {
    this.inboxes = new SandboxInboxes(transport);
  }

  /**
   * Captured messages, newest first, with the extracted `code` (`GET /v1/sandbox/messages`).
   * Live keys get 403 `test-mode-only`.
   * @default every recipient, limit 20, first page
   * @example
   * const msgs = await client.sandbox.messages({ to: '+5511987654321', limit: 1 });
   * const code = msgs.ok ? msgs.data.data[0]?.code : undefined;
   */
  messages(params: SandboxMessageListParams = {}, options: RequestOptions = {}): Promise<Result<Page<SandboxMessage>>> {
    return this.transport.request('GET', '/v1/sandbox/messages', { ...options, query: { to: params.to, limit: params.limit, cursor: params.cursor } });
  }
}
