import type { Result } from '../problem.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { OtpSession, RevokedSession } from '../types.js';

/** `/v1/sessions/current`: inspect and revoke an OTP session by its token. */
export class Sessions {
  constructor(private readonly transport: Transport) {}

  /**
   * The session behind a token (`GET /v1/sessions/current` with `X-OTP-Session`); 403
   * `otp-required` when it is missing, expired or revoked.
   * @default the client's `timeoutMs`
   * @example
   * const s = await client.sessions.current(req.get('x-otp-session') ?? '');
   * if (s.ok) console.warn(s.data.identifier, s.data.expires_at);
   */
  current(session: string, options: RequestOptions = {}): Promise<Result<OtpSession>> {
    return this.transport.request('GET', '/v1/sessions/current', { ...options, headers: { 'X-OTP-Session': session } });
  }

  /**
   * Revokes a session (`DELETE /v1/sessions/current`), e.g. on sign-out.
   * @default the client's `timeoutMs`
   * @example
   * await client.sessions.revoke(otpSession); // → { id: 'ses_…', revoked: true }
   */
  revoke(session: string, options: RequestOptions = {}): Promise<Result<RevokedSession>> {
    return this.transport.request('DELETE', '/v1/sessions/current', { ...options, headers: { 'X-OTP-Session': session } });
  }
}
