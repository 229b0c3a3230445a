/**
 * Integration policy: types, defaults, trust-level presets and the merge that produces the
 * effective policy (defaults ← preset of the trust level ← stored overrides).
 *
 * Pure module: no I/O, no clock. Every function returns fresh objects and never mutates its
 * inputs, so callers may freely keep and modify the results.
 */

export type TrustLevel = 'strict' | 'relaxed' | 'trusted';
export type Channel = 'whatsapp' | 'sms' | 'email';

export interface Policy {
  /** Action name → whether it needs a verified OTP session. Unlisted actions are not gated. */
  require_otp_for: Record<string, boolean>;
  trust_partner_validation: boolean;
  code: { length: number; ttl_s: number };
  checks: { max_attempts: number; on_wrong_code: 'retry' | 'restart' };
  limits: {
    send_per_minute: number;
    check_per_minute: number;
    resend_cooldown_s: number;
    max_sends: number;
  };
  lockout: { max_failures: number; window_s: number; duration_s: number };
  /** Allowed channels; the order is the `auto` fallback order. */
  channels: Channel[];
  session: { ttl_s: number };
  /** `scopes` are added to the action in a token's `scope` claim. */
  access_token: { enabled: boolean; ttl_s: number; scopes: string[] };
  /** `null` = every country allowed; otherwise ISO 3166-1 alpha-2 codes. */
  allowed_countries: string[] | null;
  require_signed_requests: boolean;
  billing: { enabled: boolean; low_balance_threshold: string };
  otp_enabled: boolean;
  /**
   * `fallback_after_s`: no delivery receipt within this many seconds → the same code goes to the next
   * channel (null: only errors and failed receipts fall back). `app_domain` / `android_app_hash` add
   * the WebOTP line (`@domain #code`) and the Android SMS Retriever hash to SMS texts.
   */
  delivery: { fallback_after_s: number | null; app_domain: string | null; android_app_hash: string | null };
  /** SMS-pumping guard on live sends to phones: off, monitor (log and count) or block (403 fraud-suspected). */
  fraud_guard: 'off' | 'monitor' | 'block';
  /** The guard's thresholds, per country and per number range (the number without its last 4 digits), per hour. */
  fraud_limits: { country_sends_per_hour: number; prefix_sends_per_hour: number; conversion_min_sends: number; conversion_min_rate: number };
}

export type EffectivePolicy = Policy & { trust_level: TrustLevel | 'custom' };

/**
 * Deep-partial policy as accepted on create/PATCH and as stored: nested objects are partial,
 * arrays and `null` replace the whole value.
 */
export type PolicyPatch = {
  [K in keyof Policy]?: Policy[K] extends readonly unknown[] | null
    ? Policy[K]
    : Policy[K] extends object
      ? Partial<Policy[K]>
      : Policy[K];
};

export const TRUST_LEVELS: readonly TrustLevel[] = Object.freeze(['strict', 'relaxed', 'trusted'] as const);

type Preset = Pick<Policy, 'require_otp_for' | 'trust_partner_validation'>;

const PRESETS: Readonly<Record<TrustLevel, Preset>> = {
  strict: {
    require_otp_for: { enrollment: true, redemption: true, coupon_usage: true },
    trust_partner_validation: false,
  },
  relaxed: {
    require_otp_for: { enrollment: false, redemption: true, coupon_usage: true },
    trust_partner_validation: false,
  },
  trusted: {
    require_otp_for: { enrollment: false, redemption: false, coupon_usage: false },
    trust_partner_validation: true,
  },
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Own-property assignment that is safe for keys such as `__proto__`. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function cloneDeep<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => cloneDeep(item)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) setOwn(out, key, cloneDeep(value[key]));
    return out as T;
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

function mergeDeep(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch) || !isPlainObject(base)) return cloneDeep(patch);
  const out = cloneDeep(base);
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === undefined) continue; // absent and `undefined` mean "leave as is"
    setOwn(out, key, Object.hasOwn(out, key) ? mergeDeep(out[key], value) : cloneDeep(value));
  }
  return out;
}

export const DEFAULT_POLICY: Readonly<Policy> = deepFreeze<Policy>({
  require_otp_for: { ...PRESETS.strict.require_otp_for },
  trust_partner_validation: PRESETS.strict.trust_partner_validation,
  code: { length: 6, ttl_s: 300 },
  checks: { max_attempts: 5, on_wrong_code: 'retry' },
  limits: { send_per_minute: 3, check_per_minute: 4, resend_cooldown_s: 30, max_sends: 5 },
  lockout: { max_failures: 10, window_s: 3600, duration_s: 1800 },
  channels: ['whatsapp', 'sms', 'email'],
  session: { ttl_s: 1800 },
  access_token: { enabled: false, ttl_s: 7200, scopes: [] },
  allowed_countries: null,
  require_signed_requests: false,
  billing: { enabled: false, low_balance_threshold: '1.0000' },
  otp_enabled: true,
  delivery: { fallback_after_s: null, app_domain: null, android_app_hash: null },
  fraud_guard: 'monitor',
  fraud_limits: { country_sends_per_hour: 1000, prefix_sends_per_hour: 100, conversion_min_sends: 20, conversion_min_rate: 0.1 },
});

/** The preset of a trust level (a fresh copy). */
export function presetFor(level: TrustLevel): Pick<Policy, 'require_otp_for' | 'trust_partner_validation'> {
  const preset = PRESETS[level];
  if (preset === undefined) throw new TypeError(`unknown trust level: ${String(level)}`);
  return cloneDeep(preset);
}

/**
 * Deep merge of `patch` over `base`, returning a new object (inputs are not mutated).
 * Nested objects merge key by key (including `require_otp_for` action keys); arrays and `null`
 * replace the base value; `undefined` values in the patch are ignored.
 */
export function mergePolicyPatch(base: PolicyPatch, patch: PolicyPatch): PolicyPatch {
  return mergeDeep(base, patch) as PolicyPatch;
}

function sameFlags(a: Record<string, boolean>, b: Record<string, boolean>): boolean {
  const aKeys = Object.keys(a);
  if (aKeys.length !== Object.keys(b).length) return false;
  return aKeys.every((key) => Object.hasOwn(b, key) && b[key] === a[key]);
}

/**
 * The effective policy of an integration: defaults ← preset of `level` ← `overrides`.
 * `trust_level` is `custom` when the overrides make `require_otp_for` (values or set of action
 * keys) or `trust_partner_validation` differ from the preset of `level`.
 */
export function effectivePolicy(level: TrustLevel, overrides: PolicyPatch): EffectivePolicy {
  const preset = presetFor(level);
  const base: Policy = { ...cloneDeep<Policy>(DEFAULT_POLICY), ...preset };
  const policy = mergeDeep(base, overrides ?? {}) as Policy;
  const custom =
    policy.trust_partner_validation !== preset.trust_partner_validation ||
    !sameFlags(policy.require_otp_for, preset.require_otp_for);
  return { trust_level: custom ? 'custom' : level, ...policy };
}

/** At most this many actions in an effective `require_otp_for` (the preset's included; API.md, policy schema). */
export const MAX_REQUIRE_OTP_ACTIONS = 64;

/**
 * Caps the request schema cannot see, because they hold for the merged result (stored overrides ←
 * a PATCH, over the preset): `{field: [code]}` for each one exceeded, or null. With `before` (the
 * policy stored now), only growth is refused: a policy stored over the cap by an older version
 * (a PATCH cannot remove actions) can still be renamed or have its flags changed.
 */
export function policyCapErrors(policy: Policy, before?: Policy): Record<string, string[]> | null {
  const actions = Object.keys(policy.require_otp_for).length;
  const grew = before === undefined || actions > Object.keys(before.require_otp_for).length;
  return actions > MAX_REQUIRE_OTP_ACTIONS && grew ? { 'policy.require_otp_for': ['too_many'] } : null;
}

/** Whether `action` is gated by an OTP session. Unlisted actions are not gated. */
export function requiresOtp(policy: Policy, action: string): boolean {
  const map = policy.require_otp_for;
  return Object.hasOwn(map, action) && map[action] === true;
}
