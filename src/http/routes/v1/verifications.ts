import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ChannelSchema } from '../../../domain/policy-schema.js';
import { checkVerification } from '../../../services/check-verification.js';
import type { ServiceDeps } from '../../../services/context.js';
import { cancelVerification, getVerification, resendVerification } from '../../../services/manage-verification.js';
import { requestVerification } from '../../../services/request-verification.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { ActionSchema, IdentifierSchema, NullableIdentitySchema, VerificationIdParams, VerificationSchema, errorResponses } from '../../schemas.js';

const closed = { additionalProperties: false } as const;
const tags = ['verifications'];

const RequestBody = Type.Object(
  {
    identifier: IdentifierSchema,
    channel: Type.Optional(Type.Union([Type.Literal('auto'), ChannelSchema], { default: 'auto' })),
    action: Type.Optional(ActionSchema),
    identity_reference: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    locale: Type.Optional(Type.String({ pattern: '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$', maxLength: 35 })),
  },
  closed,
);

const CheckBody = Type.Object(
  {
    identifier: Type.Optional(IdentifierSchema),
    verification_id: Type.Optional(Type.String({ pattern: '^ver_[0-9A-Za-z]{1,64}$' })),
    code: Type.String({ pattern: '^[0-9]{4,10}$', description: 'The 4–10 digit code the user received.' }),
  },
  { ...closed, anyOf: [{ required: ['identifier'] }, { required: ['verification_id'] }] },
);

const CheckResponse = Type.Object({
  status: Type.Literal('approved'),
  verification_id: Type.String(),
  identifier: Type.String(),
  action: Type.String(),
  otp_session: Type.String(),
  session_expires_at: Type.String(),
  expires_in: Type.Integer({ description: 'Seconds until access_token expires when one is issued, else until the OTP session expires.' }),
  identity: NullableIdentitySchema,
  access_token: Type.Optional(Type.String({ description: 'EdDSA JWT (policy access_token.enabled)' })),
  token_type: Type.Optional(Type.Literal('Bearer')),
  scope: Type.Optional(Type.String()),
});

const ResendBody = Type.Object({ channel: Type.Optional(ChannelSchema) }, closed);

/** resend and cancel take an optional body: a bodiless POST is read as `{}`. */
const emptyBodyAsObject = async (request: { body: unknown }): Promise<void> => {
  request.body ??= {};
};

export const verificationRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/v1/verifications',
    { schema: { tags, summary: 'Send a code', body: RequestBody, response: { 201: VerificationSchema, ...errorResponses(400, 401, 403, 422, 429) } } },
    async (request, reply) => sendResult(reply, await requestVerification(deps, tenantOf(request), request.body, request.idempotency), 201),
  );

  app.post(
    '/v1/verifications/check',
    { schema: { tags, summary: 'Check a code', body: CheckBody, response: { 200: CheckResponse, ...errorResponses(400, 401, 403, 404, 429) } } },
    async (request, reply) => sendResult(reply, await checkVerification(deps, tenantOf(request), request.body, request.idempotency)),
  );

  app.get(
    '/v1/verifications/:id',
    { schema: { tags, summary: 'Get a verification', params: VerificationIdParams, response: { 200: VerificationSchema, ...errorResponses(401, 404) } } },
    async (request, reply) => sendResult(reply, await getVerification(deps, tenantOf(request), request.params.id)),
  );

  app.post(
    '/v1/verifications/:id/resend',
    {
      preValidation: emptyBodyAsObject,
      schema: { tags, summary: 'Send the same code again', params: VerificationIdParams, body: ResendBody, response: { 200: VerificationSchema, ...errorResponses(400, 401, 403, 404, 409, 422, 429) } },
    },
    async (request, reply) => sendResult(reply, await resendVerification(deps, tenantOf(request), request.params.id, request.body.channel)),
  );

  app.post(
    '/v1/verifications/:id/cancel',
    { preValidation: emptyBodyAsObject, schema: { tags, summary: 'Cancel a pending verification', params: VerificationIdParams, body: Type.Object({}, closed), response: { 200: VerificationSchema, ...errorResponses(401, 404, 409) } } },
    async (request, reply) => sendResult(reply, await cancelVerification(deps, tenantOf(request), request.params.id)),
  );
};
