import type { Result } from '../problem.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { TokenIntrospection } from '../types.js';

/** `/v1/tokens`: the access tokens a check returns (policy `access_token.enabled`). */
export class Tokens {
  constructor(private readonly transport: Transport) {}

  /**
   * Asks otpgate whether an access token is active now (`POST /v1/tokens/introspect`, RFC 7662):
   * signature and expiry good, issued to this client's integration and mode, its OTP session not
   * revoked. A token of the other mode or another integration answers `{active: false}`.
   * @default the client's `timeoutMs`
   * @example
   * const r = await otpgate.tokens.introspect(bearer);
   * if (r.ok && r.data.active && r.data.scope.split(' ').includes('redemption')) redeem(r.data.sub);
   */
  introspect(token: string, options: RequestOptions = {}): Promise<Result<TokenIntrospection>> {
    return this.transport.request('POST', '/v1/tokens/introspect', { ...options, body: { token } });
  }
}
