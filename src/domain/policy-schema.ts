/**
 * TypeBox (JSON Schema) definitions of the policy, used by the HTTP routes for request
 * validation (Ajv 8, strict mode) and OpenAPI. Only standard JSON Schema keywords are used.
 *
 * - `PolicyPatchSchema`: the partial `policy` accepted on integration create/PATCH.
 * - `EffectivePolicySchema`: the full shape returned by `GET /v1/policy`.
 */
import { Type, type Static } from 'typebox';
import type { EffectivePolicy, PolicyPatch } from './policy.js';

const closed = { additionalProperties: false } as const;

const int = (minimum: number, maximum: number, description: string) =>
  Type.Integer({ minimum, maximum, description });

export const TrustLevelSchema = Type.Union(
  [Type.Literal('strict'), Type.Literal('relaxed'), Type.Literal('trusted')],
  { description: 'Trust level preset: strict (default), relaxed or trusted.' },
);

export const ChannelSchema = Type.Union([Type.Literal('whatsapp'), Type.Literal('sms'), Type.Literal('email')]);

const RequireOtpForSchema = Type.Record(Type.String({ pattern: '^[a-z0-9_]{1,64}$' }), Type.Boolean(), {
  ...closed,
  maxProperties: 64,
  description:
    'Action name (^[a-z0-9_]{1,64}$) → whether it needs a verified OTP session; at most 64 actions. ' +
    'Actions not listed are not gated. Keys merge over the preset (enrollment, redemption, coupon_usage).',
});

const CodeProps = {
  length: int(4, 10, 'Number of digits in a code, 4–10 (default 6).'),
  ttl_s: int(1, 86_400, 'Code lifetime in seconds, 1–86,400 (default 300).'),
};
const ChecksProps = {
  max_attempts: int(1, 100, 'Wrong-code checks allowed per verification, 1–100 (default 5).'),
  on_wrong_code: Type.Union([Type.Literal('retry'), Type.Literal('restart')], {
    description: 'After a wrong code: retry the same code, or restart (a new code must be sent). Default retry.',
  }),
};
const LimitsProps = {
  send_per_minute: int(1, 1_000_000, 'Sends per identifier per minute, 1–1,000,000 (default 3).'),
  check_per_minute: int(1, 1_000_000, 'Checks per identifier per minute, 1–1,000,000 (default 4).'),
  resend_cooldown_s: int(0, 3_600, 'Seconds between sends of one verification, 0–3,600 (default 30).'),
  max_sends: int(1, 100, 'Sends per verification, 1–100 (default 5).'),
};
const LockoutProps = {
  max_failures: int(1, 1_000_000, 'Failed checks within window_s that lock the identifier, 1–1,000,000 (default 10).'),
  window_s: int(1, 604_800, 'Failure counting window in seconds, 1–604,800 (default 3,600).'),
  duration_s: int(1, 604_800, 'Lockout duration in seconds, 1–604,800 (default 1,800).'),
};
const SessionProps = {
  ttl_s: int(1, 86_400, 'OTP session lifetime in seconds, 1–86,400 (default 1,800).'),
};
const AccessTokenProps = {
  enabled: Type.Boolean({ description: 'Issue a signed JWT access token on approval (default false).' }),
  ttl_s: int(60, 86_400, 'Access token lifetime in seconds, 60–86,400 (default 7,200).'),
  scopes: Type.Array(Type.String({ pattern: '^[a-z0-9_:.]{1,64}$' }), {
    maxItems: 32,
    uniqueItems: true,
    description: 'Scopes added after the action in the token `scope` claim (default none).',
  }),
};
const BillingProps = {
  enabled: Type.Boolean({ description: 'Charge sends against the prepaid balance (default false).' }),
  low_balance_threshold: Type.String({
    pattern: '^\\d{1,12}(\\.\\d{1,4})?$',
    description: 'Balance below which a low-balance alert fires; decimal string, up to 4 decimals (default "1.0000").',
  }),
};

const DeliveryProps = {
  fallback_after_s: Type.Union([Type.Null(), Type.Integer({ minimum: 1, maximum: 3_600 })], {
    description: 'No delivery receipt within this many seconds (1–3,600) → the same code goes to the next channel; null (default) waits for an error or a failed receipt.',
  }),
  app_domain: Type.Union([Type.Null(), Type.String({ pattern: '^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$' })], {
    description: 'Your web app’s domain: SMS texts end with the WebOTP line `@domain #code` (default null).',
  }),
  android_app_hash: Type.Union([Type.Null(), Type.String({ pattern: '^[A-Za-z0-9+/]{11}$' })], {
    description: 'Your Android app’s 11-character SMS Retriever hash, added to SMS texts (default null).',
  }),
};
const FraudGuardSchema = Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('block')], {
  description: 'SMS-pumping guard on live sends to phones: off, monitor (log and count; default) or block (403 fraud-suspected).',
});
const FraudLimitsProps = {
  country_sends_per_hour: int(1, 100_000_000, 'Live sends to one country per hour before the guard trips (default 1,000).'),
  prefix_sends_per_hour: int(1, 100_000_000, 'Live sends to one number range (all but the last 4 digits) per hour (default 100).'),
  conversion_min_sends: int(1, 100_000_000, 'Sends in the hour before the conversion rule applies (default 20).'),
  conversion_min_rate: Type.Number({ minimum: 0, maximum: 1, description: 'Approvals ÷ sends below which a country or range is suspect (default 0.1).' }),
};

const ChannelsSchema = Type.Array(ChannelSchema, {
  minItems: 1,
  maxItems: 3,
  uniqueItems: true,
  description: '1–3 unique channels; the order is the `auto` fallback order (default whatsapp, sms, email).',
});

const AllowedCountriesSchema = Type.Union(
  [
    Type.Null(),
    Type.Array(Type.String({ pattern: '^[A-Z]{2}$' }), { minItems: 1, maxItems: 250, uniqueItems: true }),
  ],
  { description: 'null (any country, the default) or 1–250 unique ISO 3166-1 alpha-2 upper-case codes.' },
);

const TrustPartnerValidationSchema = Type.Boolean({
  description: "Trust the partner's own validation of identifiers (preset: true only for trusted).",
});
const RequireSignedSchema = Type.Boolean({ description: 'Require HMAC-signed requests (default false).' });
const OtpEnabledSchema = Type.Boolean({
  description: 'When false the verification endpoints answer 403 feature-not-enabled (default true).',
});

export const PolicyPatchSchema = Type.Object(
  {
    require_otp_for: Type.Optional(RequireOtpForSchema),
    trust_partner_validation: Type.Optional(TrustPartnerValidationSchema),
    code: Type.Optional(Type.Partial(Type.Object(CodeProps), closed)),
    checks: Type.Optional(Type.Partial(Type.Object(ChecksProps), closed)),
    limits: Type.Optional(Type.Partial(Type.Object(LimitsProps), closed)),
    lockout: Type.Optional(Type.Partial(Type.Object(LockoutProps), closed)),
    channels: Type.Optional(ChannelsSchema),
    session: Type.Optional(Type.Partial(Type.Object(SessionProps), closed)),
    access_token: Type.Optional(Type.Partial(Type.Object(AccessTokenProps), closed)),
    allowed_countries: Type.Optional(AllowedCountriesSchema),
    require_signed_requests: Type.Optional(RequireSignedSchema),
    billing: Type.Optional(Type.Partial(Type.Object(BillingProps), closed)),
    otp_enabled: Type.Optional(OtpEnabledSchema),
    delivery: Type.Optional(Type.Partial(Type.Object(DeliveryProps), closed)),
    fraud_guard: Type.Optional(FraudGuardSchema),
    fraud_limits: Type.Optional(Type.Partial(Type.Object(FraudLimitsProps), closed)),
  },
  {
    ...closed,
    description:
      'Partial policy, merged over the trust level preset and the defaults. Nested objects merge; arrays and null replace.',
  },
);

const EffectivePolicyProps = {
    trust_level: Type.Union(
      [Type.Literal('strict'), Type.Literal('relaxed'), Type.Literal('trusted'), Type.Literal('custom')],
      { description: 'The stored trust level, or custom when overrides change the gate or partner trust.' },
    ),
    require_otp_for: RequireOtpForSchema,
    trust_partner_validation: TrustPartnerValidationSchema,
    code: Type.Object(CodeProps, closed),
    checks: Type.Object(ChecksProps, closed),
    limits: Type.Object(LimitsProps, closed),
    lockout: Type.Object(LockoutProps, closed),
    channels: ChannelsSchema,
    session: Type.Object(SessionProps, closed),
    access_token: Type.Object(AccessTokenProps, closed),
    allowed_countries: AllowedCountriesSchema,
    require_signed_requests: RequireSignedSchema,
    billing: Type.Object(BillingProps, closed),
    otp_enabled: OtpEnabledSchema,
    delivery: Type.Object(DeliveryProps, closed),
    fraud_guard: FraudGuardSchema,
    fraud_limits: Type.Object(FraudLimitsProps, closed),
};

export const EffectivePolicySchema = Type.Object(EffectivePolicyProps, { ...closed, description: 'The effective policy of the integration.' });

/** `GET /v1/policy`: the effective policy, and which of its channels can deliver in the key's mode. */
export const PolicyAnswerSchema = Type.Object(
  {
    ...EffectivePolicyProps,
    channels_available: Type.Array(ChannelSchema, {
      description: "The policy's channels that can deliver for this key, in order: every one in test mode (the sandbox), those with a configured provider in live mode.",
    }),
  },
  { ...closed, description: 'The effective policy of the integration, with the channels available to this key.' },
);

export type TrustLevelInput = Static<typeof TrustLevelSchema>;
export type PolicyPatchInput = Static<typeof PolicyPatchSchema>;
export type EffectivePolicyOutput = Static<typeof EffectivePolicySchema>;

// Type-level checks: the schemas' static types line up with the domain types.
const _patchCheck: PolicyPatch = {} as PolicyPatchInput;
const _effectiveCheck: EffectivePolicy = {} as EffectivePolicyOutput;
const _effectiveBack: EffectivePolicyOutput = {} as EffectivePolicy;
void _patchCheck;
void _effectiveCheck;
void _effectiveBack;
