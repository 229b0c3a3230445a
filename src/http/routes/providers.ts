import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import type { DeliveryObserver } from '../../delivery/delivery-outcomes.js';
import { CALLBACK_PATHS } from '../../delivery/providers/directory.js';
import type { ProviderStatusUpdate } from '../../delivery/providers/provider.js';
import { verifyTwilioSignature, type TwilioParams } from '../../delivery/providers/twilio-signature.js';
import { parseTwilioStatus } from '../../delivery/providers/twilio-status.js';
import { parseWhatsAppStatuses, verifyWhatsAppSignature, whatsAppHandshake } from '../../delivery/providers/whatsapp-webhook.js';
import { problem } from '../../domain/errors.js';
import type { IntegrationProviders } from '../../delivery/integration-providers.js';
import type { ServiceDeps } from '../../services/context.js';
import { applyProviderReceipts } from '../../services/provider-receipts.js';
import { sendProblem } from '../problem-reply.js';

export interface ProviderRouteDeps {
  config: Pick<Config, 'whatsapp' | 'twilio' | 'publicUrl'>;
  services: ServiceDeps;
  observer?: DeliveryObserver;
  /** Integrations that bring their own WhatsApp app or Twilio account: their secrets verify their callbacks. */
  secrets?: Pick<IntegrationProviders, 'twilioAuthToken' | 'whatsAppAppSecrets'>;
}

/** The phone number id a WhatsApp webhook is about (to find whose app secret signed it), unverified. */
function whatsAppPhoneNumberId(body: unknown): string | null {
  const entry = (body as { entry?: { changes?: { value?: { metadata?: { phone_number_id?: unknown } } }[] }[] } | null)?.entry;
  const id = Array.isArray(entry) ? entry[0]?.changes?.[0]?.value?.metadata?.phone_number_id : undefined;
  return typeof id === 'string' ? id : null;
}

const badSignature = (reply: FastifyReply, detail: string) => sendProblem(reply, problem('invalid-signature', detail));

/** A form body as Twilio signs it: every field, repeated ones as arrays. */
export function formParams(body: string): TwilioParams {
  const params: TwilioParams = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const seen = params[key];
    params[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return params;
}

/**
 * Provider callbacks (no API key: each is authenticated by its provider's signature, and nothing
 * unsigned is applied):
 * - WhatsApp Cloud API: the GET verify-token handshake, then status updates signed with the app
 *   secret (`X-Hub-Signature-256`);
 * - Twilio: status callbacks signed with the account's auth token over the public URL and the form
 *   fields (`X-Twilio-Signature`).
 */
export function providerRoutes(deps: ProviderRouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    // Twilio posts forms; the exact fields are kept for the signature (every value, in order).
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, formParams(typeof body === 'string' ? body : body.toString('utf8')));
    });
    const schema = { tags: ['providers'], hide: false };

    app.get(CALLBACK_PATHS.whatsapp, { schema: { ...schema, summary: "Meta's verify-token handshake for the WhatsApp webhook" } }, async (request, reply) => {
      const whatsapp = deps.config.whatsapp;
      if (!whatsapp?.verifyToken) return sendProblem(reply, problem('feature-not-enabled', 'OTPGATE_WHATSAPP_VERIFY_TOKEN is not set on this server.'));
      const challenge = whatsAppHandshake(request.query as Record<string, unknown>, whatsapp.verifyToken);
      if (challenge === null) return badSignature(reply, 'The verify token does not match.');
      return reply.type('text/plain; charset=utf-8').send(challenge);
    });

    app.post(CALLBACK_PATHS.whatsapp, { schema: { ...schema, summary: 'WhatsApp status updates (signed with the app secret)' } }, async (request, reply) => {
      const secrets = deps.secrets
        ? await deps.secrets.whatsAppAppSecrets(whatsAppPhoneNumberId(request.body))
        : [deps.config.whatsapp?.appSecret].filter((s): s is string => Boolean(s));
      if (secrets.length === 0) return badSignature(reply, 'No WhatsApp app secret is configured (OTPGATE_WHATSAPP_APP_SECRET): unsigned status updates are never applied.');
      const header = typeof request.headers['x-hub-signature-256'] === 'string' ? request.headers['x-hub-signature-256'] : undefined;
      const raw = request.rawBody ?? Buffer.alloc(0);
      if (!secrets.some((secret) => verifyWhatsAppSignature(secret, raw, header))) {
        return badSignature(reply, 'X-Hub-Signature-256 is missing or does not match the body.');
      }
      const updates = parseWhatsAppStatuses(request.body);
      const matched = await applyProviderReceipts(deps.services, 'whatsapp', updates, deps.observer);
      return { received: updates.length, matched };
    });

    app.post(CALLBACK_PATHS.twilioStatus, { schema: { ...schema, summary: 'Twilio message status callbacks (signed with the auth token)' } }, async (request: FastifyRequest, reply) => {
      const integration = (request.query as { integration?: unknown }).integration;
      const authToken = deps.secrets
        ? await deps.secrets.twilioAuthToken(typeof integration === 'string' ? integration : null)
        : (deps.config.twilio?.authToken ?? null);
      if (!authToken) return badSignature(reply, 'Twilio is not configured for this callback.');
      if (!deps.config.publicUrl) return badSignature(reply, 'OTPGATE_PUBLIC_URL is not set: the signed URL cannot be rebuilt.');
      const params = (request.body && typeof request.body === 'object' ? request.body : {}) as TwilioParams;
      const header = request.headers['x-twilio-signature'];
      const url = `${deps.config.publicUrl}${request.url}`;
      if (!verifyTwilioSignature(authToken, url, params, typeof header === 'string' ? header : undefined)) {
        return badSignature(reply, 'X-Twilio-Signature is missing or does not match.');
      }
      const update = parseTwilioStatus(params);
      const updates: ProviderStatusUpdate[] = update ? [update] : [];
      await applyProviderReceipts(deps.services, 'twilio', updates, deps.observer);
      return reply.code(204).send();
    });
  };
}
