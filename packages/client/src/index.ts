/**
 * @otpgate/client: the typed client of the otpgate API, request signing, and `requireOtp`
 * middleware. The middleware are also available apart, without the other framework's types:
 * `requireOtp` for Express is `requireOtpExpress`, for Fastify `requireOtpFastify`.
 */
export * from './client.js';
export * from './problem.js';
export * from './sign.js';
export type * from './types.js';
export type { HttpMethod, PostOptions, Query, RequestOptions } from './transport.js';
export * from './resources/account.js';
export * from './resources/identities.js';
export * from './resources/sandbox.js';
export * from './resources/sessions.js';
export * from './resources/tokens.js';
export * from './resources/verifications.js';
export * from './resources/webhook.js';
export { verifyWebhook, WebhookVerificationError, type WebhookHeaders } from './verify-webhook.js';
export type * from './webhook-events.js';
export { bearerToken, createGate, headerValue, DEFAULT_CACHE_TTL_MS } from './middleware/gate.js';
export type { AccessTokenOptions, GateDecision, GateInput, OtpContext, RequireOtpOptions } from './middleware/gate.js';
export { requireOtp as requireOtpExpress, type ExpressRequireOtpOptions } from './middleware/express.js';
export { requireOtp as requireOtpFastify, type FastifyRequireOtpOptions, type OtpPreHandler } from './middleware/fastify.js';
