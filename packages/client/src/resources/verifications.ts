import type { Result } from '../problem.js';
import { seg, type PostOptions, type RequestOptions, type Transport } from '../transport.js';
import type {
  CheckVerificationParams,
  CheckVerificationResponse,
  CreateVerificationParams,
  ResendVerificationParams,
  Verification,
} from '../types.js';

/** `/v1/verifications`: send, check, inspect, resend and cancel one-time codes. */
export class Verifications {
  constructor(private readonly transport: Transport) {}

  /**
   * Sends a code (`POST /v1/verifications` → 201). A new request for the same identifier cancels
   * the earlier pending one.
   * @default channel `'auto'`, action `'sign_in'`, no `Idempotency-Key`
   * @example
   * const sent = await client.verifications.create({ identifier: '+5511987654321', action: 'redemption' });
   * if (sent.ok) console.warn(sent.data.id, sent.data.expires_at);
   */
  create(params: CreateVerificationParams, options: PostOptions = {}): Promise<Result<Verification>> {
    return this.transport.request('POST', '/v1/verifications', { ...options, body: params });
  }

  /**
   * Checks a code against the identifier's latest verification (or one by id). Approval answers
   * the OTP session token, and an access token when the policy enables them.
   * @default no `Idempotency-Key`
   * @example
   * const res = await client.verifications.check({ identifier: '+5511987654321', code: '123456' });
   * if (res.ok) session = res.data.otp_session;
   * else if (res.problem.type === 'invalid-code') console.warn(res.problem.attempts_remaining);
   */
  check(params: CheckVerificationParams, options: PostOptions = {}): Promise<Result<CheckVerificationResponse>> {
    return this.transport.request('POST', '/v1/verifications/check', { ...options, body: params });
  }

  /**
   * Reads a verification (`GET /v1/verifications/{id}`).
   * @default the client's `timeoutMs`
   * @example
   * const v = await client.verifications.get('ver_2Xb9…');
   */
  get(id: string, options: RequestOptions = {}): Promise<Result<Verification>> {
    return this.transport.request('GET', `/v1/verifications/${seg(id)}`, options);
  }

  /**
   * Sends the same code again (`POST /v1/verifications/{id}/resend`); 429 `resend-cooldown` within
   * the cooldown, 409 `invalid-state` when not pending.
   * @default the verification's channel, no `Idempotency-Key`
   * @example
   * await client.verifications.resend('ver_2Xb9…', { channel: 'sms' });
   */
  resend(id: string, params: ResendVerificationParams = {}, options: PostOptions = {}): Promise<Result<Verification>> {
    return this.transport.request('POST', `/v1/verifications/${seg(id)}/resend`, { ...options, body: params });
  }

  /**
   * Cancels a pending verification (`POST /v1/verifications/{id}/cancel` → `status: "canceled"`).
   * @default no `Idempotency-Key`
   * @example
   * await client.verifications.cancel('ver_2Xb9…');
   */
  cancel(id: string, options: PostOptions = {}): Promise<Result<Verification>> {
    return this.transport.request('POST', `/v1/verifications/${seg(id)}/cancel`, { ...options, body: {} });
  }
}
