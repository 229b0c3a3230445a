import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static, type TSchema } from 'typebox';
import { SUPPORTED_LOCALES } from '../../../delivery/templates.js';
import {
  deleteDeliverySettings,
  getDeliverySettings,
  patchDeliverySettings,
  type DeliverySettingsDeps,
} from '../../../services/integration-delivery.js';
import { sendProblem, sendResult } from '../../problem-reply.js';
import { NullableString, StringEnum, errorResponses } from '../../schemas.js';

export interface DeliveryRouteDeps extends DeliverySettingsDeps {
  /** Called after the settings of an integration changed (IntegrationProviders.invalidate). */
  invalidate?: (integrationId: string) => void;
}

const closed = { additionalProperties: false } as const;
const tags = ['operator'];
const IdParams = Type.Object({ id: Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' }) }, closed);

/** A string or null (`null` removes the member), as `type: [string, null]` so the field's own errors stay readable. */
const Nullable = (options: Record<string, unknown> = {}) => Type.Unsafe<string | null>({ type: ['string', 'null'], ...options });
/** A closed object or null. */
const NullableObject = <T extends TSchema>(schema: T, description?: string) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: ['object', 'null'], ...(description ? { description } : {}) });

const Secret = (description: string) => Nullable({ minLength: 8, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$', description: `${description} Write-only: never returned.` });
const ChannelSchema = StringEnum(['whatsapp', 'sms', 'email'] as const);

const WhatsAppPatch = Type.Object(
  {
    template: Type.Optional(Nullable({ pattern: '^[a-z0-9_]{1,512}$', description: "The approved authentication template's name (else the deployment's)." })),
    language: Type.Optional(Nullable({ pattern: '^[a-z]{2,3}(_[A-Z]{2})?$', description: "The template's language code, e.g. pt_BR (else derived from the message's locale)." })),
    phone_number_id: Type.Optional(Nullable({ pattern: '^[0-9]{1,32}$', description: "The integration's own sending number id (with access_token)." })),
    access_token: Type.Optional(Secret('A system-user token of the integration’s own WhatsApp Business account.')),
    app_secret: Type.Optional(Secret('The Meta app secret that signs status webhooks for that number.')),
  },
  closed,
);
const SmsPatch = Type.Object(
  {
    from: Type.Optional(Nullable({ maxLength: 34, description: 'An E.164 number or a Messaging Service SID (MG…).' })),
    account_sid: Type.Optional(Nullable({ pattern: '^AC[0-9a-fA-F]{32}$', description: "The integration's own Twilio account (with auth_token)." })),
    auth_token: Type.Optional(Secret("That account's auth token.")),
  },
  closed,
);
const EmailPatch = Type.Object(
  {
    from: Type.Optional(Nullable({ minLength: 3, maxLength: 320, description: 'An address or "Name <address>".' })),
    smtp_url: Type.Optional(Nullable({ minLength: 8, maxLength: 2048, description: 'smtp://user:pass@host:587 or smtps://user:pass@host:465. Write-only: never returned.' })),
  },
  closed,
);
const HttpPatch = Type.Object(
  {
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'An https URL with public addresses only.' })),
    secret: Type.Optional(Nullable({ maxLength: 200, description: 'A Standard Webhooks secret (whsec_…); generated when absent, or when null. Shown once.' })),
    channels: Type.Optional(Type.Array(ChannelSchema, { minItems: 1, maxItems: 3, uniqueItems: true })),
  },
  closed,
);
const TemplateText = Nullable({ minLength: 1, maxLength: 2000, description: 'Text with {code}; {brand} and {minutes} optional.' });
const LocaleTexts = Type.Object(Object.fromEntries(SUPPORTED_LOCALES.map((l) => [l, Type.Optional(TemplateText)])) as Record<string, ReturnType<typeof Type.Optional<typeof TemplateText>>>, closed);
const TemplatesPatch = Type.Object(
  {
    whatsapp: Type.Optional(NullableObject(LocaleTexts)),
    sms: Type.Optional(NullableObject(LocaleTexts)),
    email: Type.Optional(NullableObject(LocaleTexts)),
  },
  closed,
);

const PatchBody = Type.Object(
  {
    brand_name: Type.Optional(Nullable({ minLength: 1, maxLength: 60, description: 'The name in the messages (else the brand of the request).' })),
    whatsapp: Type.Optional(NullableObject(WhatsAppPatch)),
    sms: Type.Optional(NullableObject(SmsPatch)),
    email: Type.Optional(NullableObject(EmailPatch)),
    http: Type.Optional(NullableObject(HttpPatch, "The integration's own HTTP gateway (url and channels needed when first set).")),
    templates: Type.Optional(NullableObject(TemplatesPatch)),
  },
  { ...closed, description: 'Every member optional: absent keeps, null removes (a section or one field), a value replaces.' },
);

const Texts = Type.Record(Type.String(), Type.String());
const SettingsView = Type.Object({
  integration_id: Type.String(),
  brand_name: NullableString(),
  whatsapp: NullableObject(
    Type.Object({ template: NullableString(), language: NullableString(), phone_number_id: NullableString(), access_token_set: Type.Boolean(), app_secret_set: Type.Boolean() }),
  ),
  sms: NullableObject(Type.Object({ from: NullableString(), account_sid: NullableString(), auth_token_set: Type.Boolean() })),
  email: NullableObject(Type.Object({ from: NullableString(), smtp_url_set: Type.Boolean() })),
  http: NullableObject(
    Type.Object({
      url: Type.String(),
      channels: Type.Array(ChannelSchema),
      secret_set: Type.Boolean(),
      secret: Type.Optional(Type.String({ description: 'Only in the answer that generated or set it.' })),
    }),
  ),
  templates: NullableObject(Type.Object({ whatsapp: Type.Optional(Texts), sms: Type.Optional(Texts), email: Type.Optional(Texts) })),
  updated_at: NullableString({ description: "null: the deployment's defaults apply" }),
});

/** The operator API of an integration's delivery settings (credentials write-only). */
export const adminDeliveryRoutes = (deps: DeliveryRouteDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/admin/v1/integrations/:id/delivery',
    { schema: { tags, summary: "An integration's delivery settings (credentials never shown)", params: IdParams, response: { 200: SettingsView, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await getDeliverySettings(deps, request.params.id)),
  );

  app.patch(
    '/admin/v1/integrations/:id/delivery',
    {
      schema: {
        tags,
        summary: "Merge changes into an integration's delivery settings",
        params: IdParams,
        body: PatchBody,
        response: { 200: SettingsView, ...errorResponses(400, 401, 404, 422) },
      },
    },
    async (request, reply) => {
      const result = await patchDeliverySettings(deps, request.params.id, request.body);
      if (!result.ok) return sendProblem(reply, result.problem);
      deps.invalidate?.(request.params.id);
      if (result.value.carriesSecret) reply.header('cache-control', 'no-store');
      return reply.code(200).send(result.value.view);
    },
  );

  app.delete(
    '/admin/v1/integrations/:id/delivery',
    { schema: { tags, summary: "Back to the deployment's delivery defaults", params: IdParams, response: { 200: SettingsView, ...errorResponses(401, 404) } } },
    async (request, reply) => {
      const result = await deleteDeliverySettings(deps, request.params.id);
      if (result.ok) deps.invalidate?.(request.params.id);
      return sendResult(reply, result);
    },
  );
};
