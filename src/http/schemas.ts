import { Type, type Static } from 'typebox';

/** Shared route schema pieces: one definition → validation, types and OpenAPI. */
export const IdentifierSchema = Type.String({
  minLength: 1,
  maxLength: 320,
  description: 'A phone in international form (+5511987654321), an email address, or a CPF.',
});

export const ActionSchema = Type.String({ pattern: '^[a-z0-9_]{1,64}$', description: 'What the code will authorize (default sign_in).' });

export const VerificationIdParams = Type.Object({ id: Type.String({ pattern: '^ver_[0-9A-Za-z]{1,64}$' }) }, { additionalProperties: false });

export const ListQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
};

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'One of the API error slugs, e.g. validation-error.' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    errors: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    retry_after: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details (application/problem+json).' },
);

/**
 * Response-side helpers written as plain `type` / `enum` keywords rather than `anyOf`:
 * fast-json-stringify serializes those directly, while every `anyOf` costs a runtime validation
 * per field (it made a send's 201 cost more than the send itself).
 */
export const NullableString = (options: { description?: string } = {}) => Type.Unsafe<string | null>({ type: ['string', 'null'], ...options });
export const StringEnum = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

export const DeliverySchema = Type.Object({
  channel: Type.String(),
  status: StringEnum(['queued', 'sent', 'delivered', 'failed'] as const, { description: 'queued → sent → delivered | failed (a WhatsApp `read` counts as delivered)' }),
  at: Type.String({ description: 'When the attempt last changed' }),
  provider: NullableString({ description: 'sandbox | whatsapp | twilio | smtp | http; null before the first try' }),
  provider_message_id: NullableString({ description: "The provider's id of the message (wamid…, SM…)" }),
  error_code: Type.Optional(Type.String({ description: "The provider's error code (131026, 21211) or a reason: timeout, network, http_503, circuit_open, no_provider, no_receipt" })),
  error: Type.Optional(Type.String()),
  created_at: Type.String(),
  sent_at: NullableString(),
  delivered_at: NullableString(),
  failed_at: NullableString(),
});

export const VerificationSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'pending | approved | canceled | expired | failed' }),
  failure_reason: NullableString({ description: 'superseded | canceled | expired | max_attempts_reached | wrong_code' }),
  identifier: Type.String(),
  identifier_type: Type.String(),
  channel: Type.String(),
  action: Type.String(),
  locale: NullableString(),
  code_length: Type.Integer(),
  attempts: Type.Integer(),
  max_attempts: Type.Integer(),
  sends: Type.Integer(),
  expires_at: Type.String(),
  resend_available_at: Type.String(),
  deliveries: Type.Array(DeliverySchema),
  created_at: Type.String(),
  updated_at: Type.String(),
});

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { ...ProblemSchema, description: 'Problem details' }]));

export const IdentitySchema = Type.Object({
  id: Type.String(),
  reference: Type.String({ description: 'The reference the identity was created with' }),
  references: Type.Array(Type.String(), { description: 'Every reference that resolves to it (more than one after a merge)' }),
  email: NullableString(),
  email_verified: Type.Boolean(),
  email_verified_at: NullableString(),
  phone: NullableString(),
  phone_verified: Type.Boolean(),
  phone_verified_at: NullableString(),
  cpf: NullableString(),
  name: NullableString(),
  created_at: Type.String(),
});

/** The identity object or null, written as `type: [object, null]` for fast serialization. */
export const NullableIdentitySchema = Type.Unsafe<Static<typeof IdentitySchema> | null>({ ...IdentitySchema, type: ['object', 'null'] });
