import type { Result } from '../problem.js';
import { seg, type PostOptions, type RequestOptions, type Transport } from '../transport.js';
import type { CreateSandboxInboxParams, Page, SandboxInbox, SandboxMessage, SandboxMessageListParams } from '../types.js';

/** `/v1/sandbox/inboxes`: virtual numbers and addresses that receive codes (test mode). */
export class SandboxInboxes {
  constructor(private readonly transport: Transport) {}

  /**
   * Rents an inbox (`POST /v1/sandbox/inboxes` → 201, `status: "waiting"`).
   * @default the server's country and code extractor; no `Idempotency-Key`
   * @example
   * const inbox = await client.sandbox.inboxes.create({ kind: 'email' });
   * if (inbox.ok) await client.verifications.create({ identifier: inbox.data.address });
   * @remarks Not yet served: the server has no `POST /v1/sandbox/inboxes` yet (answers 404 `not-found`); see docs/api.md, "Planned, not yet served".
   */
  create(params: CreateSandboxInboxParams, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', '/v1/sandbox/inboxes', { ...options, body: params });
  }

  /**
   * Reads an inbox: its status, latest `otp_code`, every OTP and message (`GET /v1/sandbox/inboxes/{id}`).
   * @default the client's `timeoutMs`
   * @example
   * const inbox = await client.sandbox.inboxes.get('inb_4Qz…');
   * if (inbox.ok && inbox.data.status === 'otp_received') console.warn(inbox.data.otp_code);
   * @remarks Not yet served: the server has no `GET /v1/sandbox/inboxes/{id}` yet (answers 404 `not-found`); see docs/api.md, "Planned, not yet served".
   */
  get(id: string, options: RequestOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('GET', `/v1/sandbox/inboxes/${seg(id)}`, options);
  }

  /**
   * Finishes an inbox while `waiting` or `otp_received` (`POST …/{id}/finish`); else 409 `invalid-state`.
   * @default no `Idempotency-Key`
   * @example
   * await client.sandbox.inboxes.finish('inb_4Qz…');
   * @remarks Not yet served: the server has no `POST /v1/sandbox/inboxes/{id}/finish` yet (answers 404 `not-found`); see docs/api.md, "Planned, not yet served".
   */
  finish(id: string, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', `/v1/sandbox/inboxes/${seg(id)}/finish`, { ...options, body: {} });
  }

  /**
   * Cancels an inbox while `waiting` (`POST …/{id}/cancel`); else 409 `invalid-state`.
   * @default no `Idempotency-Key`
   * @example
   * await client.sandbox.inboxes.cancel('inb_4Qz…');
   * @remarks Not yet served: the server has no `POST /v1/sandbox/inboxes/{id}/cancel` yet (answers 404 `not-found`); see docs/api.md, "Planned, not yet served".
   */
  cancel(id: string, options: PostOptions = {}): Promise<Result<SandboxInbox>> {
    return this.transport.request('POST', `/v1/sandbox/inboxes/${seg(id)}/cancel`, { ...options, body: {} });
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
