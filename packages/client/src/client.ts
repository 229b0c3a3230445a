import type { Result } from './problem.js';
import { BalanceResource, PolicyResource, PricingResource } from './resources/account.js';
import { Identities } from './resources/identities.js';
import { SandboxResource } from './resources/sandbox.js';
import { Sessions } from './resources/sessions.js';
import { Tokens } from './resources/tokens.js';
import { Verifications } from './resources/verifications.js';
import { WebhookResource } from './resources/webhook.js';
import { Transport, type PostOptions, type RequestOptions } from './transport.js';
import type { AuthorizeParams, AuthorizeResponse, Jwks, Mode } from './types.js';

/** The default address of a local otpgate (`npm start`). */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';
/** How long one request may take before it is answered as `unavailable`. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The mode of an API key from its prefix: `otpg_live_…` → `live`, `otpg_test_…` → `test`, anything
 * else → null.
 * @example
 * keyMode('otpg_live_4f…'); // 'live'
 */
export function keyMode(apiKey: string): Mode | null {
  const match = /^otpg_(test|live)_/.exec(apiKey);
  return match ? (match[1] as Mode) : null;
}

/** Settings of an `OtpgateClient`. */
export interface OtpgateClientOptions {
  /** An integration key, `otpg_test_…` or `otpg_live_…`, sent as `X-API-Key`. */
  apiKey: string;
  /** Where otpgate listens. @default 'http://127.0.0.1:8080' */
  baseUrl?: string;
  /** The key's signing secret: when set, every request carries `X-Timestamp` and `X-Signature`. @default undefined (unsigned) */
  signingSecret?: string;
  /** A `fetch` to use instead of the global one (proxies, tests). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Milliseconds before a request is abandoned and answered as `unavailable` (status 0). @default 10000 */
  timeoutMs?: number;
  /** Unix milliseconds used for `X-Timestamp`. @default Date.now */
  now?: () => number;
}

/**
 * The typed client of the otpgate public API (integrator side). Every method resolves to a
 * `Result`: `{ok: true, data}` or `{ok: false, problem}`, never a rejection for an HTTP outcome;
 * a network failure or timeout is the `unavailable` problem with `status: 0`.
 * @default baseUrl 'http://127.0.0.1:8080', timeoutMs 10000, unsigned requests
 * @example
 * const otpgate = new OtpgateClient({ apiKey: process.env.OTPGATE_API_KEY! });
 * const sent = await otpgate.verifications.create({ identifier: '+5511987654321', action: 'redemption' });
 * const checked = await otpgate.verifications.check({ identifier: '+5511987654321', code: '123456' });
 * if (checked.ok) res.setHeader('X-OTP-Session', checked.data.otp_session);
 */
export class OtpgateClient {
  /** Send, check, read, resend and cancel codes. */
  readonly verifications: Verifications;
  /** The integration's effective policy. */
  readonly policy: PolicyResource;
  /** Inspect and revoke OTP sessions. */
  readonly sessions: Sessions;
  /** Introspect access tokens. */
  readonly tokens: Tokens;
  /** The integration's identities. */
  readonly identities: Identities;
  /** The webhook endpoint of the key's mode, its deliveries, and a test event (verify what arrives with `verifyWebhook`). */
  readonly webhook: WebhookResource;
  /** Prices per channel and country. */
  readonly pricing: PricingResource;
  /** Prepaid balance and ledger. */
  readonly balance: BalanceResource;
  /** Captured test-mode messages, and virtual inboxes that receive codes (`inboxes`, with `waitForCode` for end-to-end tests). */
  readonly sandbox: SandboxResource;
  /** The base URL without a trailing slash, e.g. `http://127.0.0.1:8080`. */
  readonly baseUrl: string;
  /** The key's mode (`otpg_live_…` → `live`, `otpg_test_…` → `test`; null for another shape): the mode `requireOtp` expects of access tokens. */
  readonly mode: Mode | null;

  private readonly transport: Transport;

  constructor(options: OtpgateClientOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey === '') throw new TypeError('OtpgateClient: apiKey is required');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('OtpgateClient: timeoutMs must be a positive number');
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.mode = keyMode(options.apiKey);
    const fetchFn = options.fetch ?? ((input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, init));
    this.transport = new Transport({
      apiKey: options.apiKey,
      baseUrl: this.baseUrl,
      signingSecret: options.signingSecret || undefined,
      fetch: fetchFn,
      timeoutMs,
      now: options.now ?? Date.now,
    });
    this.verifications = new Verifications(this.transport);
    this.policy = new PolicyResource(this.transport);
    this.sessions = new Sessions(this.transport);
    this.tokens = new Tokens(this.transport);
    this.identities = new Identities(this.transport);
    this.webhook = new WebhookResource(this.transport);
    this.pricing = new PricingResource(this.transport);
    this.balance = new BalanceResource(this.transport);
    this.sandbox = new SandboxResource(this.transport);
  }

  /**
   * Asks whether an action may run now (`POST /v1/authorize` with `X-OTP-Session`). Allowed →
   * `{allowed: true, otp_required}` (with the session when the action is gated); refused → the
   * `otp-required` problem (403). `requireOtp` wraps this for Express and Fastify.
   * @default no session (only actions the policy does not gate pass), any identifier
   * @example
   * const res = await otpgate.authorize('redemption', { session: req.get('x-otp-session'), identifier: user.phone });
   * if (!res.ok) return res.problem.type === 'otp-required' ? askForCode() : failClosed();
   */
  authorize(action: string, params: AuthorizeParams = {}, options: PostOptions = {}): Promise<Result<AuthorizeResponse>> {
    const body: { action: string; identifier?: string } = { action };
    if (params.identifier !== undefined) body.identifier = params.identifier;
    const headers: Record<string, string> = params.session ? { 'X-OTP-Session': params.session } : {};
    return this.transport.request('POST', '/v1/authorize', { ...options, body, headers });
  }

  /**
   * The public keys that sign access tokens (`GET /.well-known/jwks.json`).
   * @default the client's `timeoutMs`
   * @example
   * const jwks = await otpgate.jwks();
   * if (jwks.ok) console.warn(jwks.data.keys.map((k) => k.kid));
   */
  jwks(options: RequestOptions = {}): Promise<Result<Jwks>> {
    return this.transport.request('GET', '/.well-known/jwks.json', options);
  }

  /**
   * The absolute URL of a path of the API (e.g. the JWKS for an offline verifier).
   * @default paths are resolved under `baseUrl`
   * @example
   * otpgate.url('/.well-known/jwks.json').href; // 'http://127.0.0.1:8080/.well-known/jwks.json'
   */
  url(path: string): URL {
    return this.transport.url(path);
  }
}
