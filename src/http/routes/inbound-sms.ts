import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../../config.js';
import { CALLBACK_PATHS } from '../../delivery/providers/directory.js';
import { verifyTwilioSignature, type TwilioParams } from '../../delivery/providers/twilio-signature.js';
import { parseIdentifier } from '../../domain/identifiers.js';
import { problem, validationProblem } from '../../domain/errors.js';
import { deliverInbound } from '../../sandbox/inbox-intake.js';
import { maskAddress } from '../../sandbox/mask-address.js';
import type { ServiceDeps } from '../../services/context.js';
import { sendProblem } from '../problem-reply.js';
import { formParams } from './providers.js';

export interface InboundSmsRouteDeps {
  config: Pick<Config, 'twilio' | 'publicUrl'>;
  services: ServiceDeps;
}

/** What Twilio expects back from a messaging webhook when there is nothing to reply. */
export const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

const badSignature = (reply: FastifyReply, detail: string) => sendProblem(reply, problem('invalid-signature', detail));
const twiml = (reply: FastifyReply) => reply.code(200).type('text/xml; charset=utf-8').send(EMPTY_TWIML);

/** A single-valued form field, or null (absent, empty or repeated). */
function field(params: TwilioParams, name: string): string | null {
  const value = params[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * `POST /v1/providers/twilio/inbound`: Twilio's incoming-message webhook for the operator's numbers.
 * Signed with the deployment's Twilio auth token (OTPGATE_TWILIO_AUTH_TOKEN) over
 * OTPGATE_PUBLIC_URL + the path, exactly as the status callback; an integration's own Twilio
 * account cannot sign here, so no integration can write into another's inbox. A valid message lands
 * in the open sandbox inbox holding the `To` number (once per MessageSid); the answer is an empty
 * TwiML `<Response/>` either way, so Twilio neither retries nor replies to the sender.
 */
export function inboundSmsRoutes(deps: InboundSmsRouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, formParams(typeof body === 'string' ? body : body.toString('utf8')));
    });

    const summary = 'Incoming SMS from Twilio for sandbox inboxes (signed with the auth token); answers empty TwiML';
    app.post(CALLBACK_PATHS.twilioInbound, { schema: { tags: ['providers'], summary } }, async (request, reply) => {
      const authToken = deps.config.twilio?.authToken ?? null;
      if (!authToken) return badSignature(reply, 'Twilio is not configured on this server (OTPGATE_TWILIO_AUTH_TOKEN): unsigned messages are never accepted.');
      if (!deps.config.publicUrl) return badSignature(reply, 'OTPGATE_PUBLIC_URL is not set: the signed URL cannot be rebuilt.');
      const params = (request.body && typeof request.body === 'object' ? request.body : {}) as TwilioParams;
      const header = request.headers['x-twilio-signature'];
      if (!verifyTwilioSignature(authToken, `${deps.config.publicUrl}${request.url}`, params, typeof header === 'string' ? header : undefined)) {
        return badSignature(reply, 'X-Twilio-Signature is missing or does not match.');
      }

      const sid = field(params, 'MessageSid') ?? field(params, 'SmsSid');
      const to = field(params, 'To');
      if (sid === null || to === null) {
        const errors = { ...(to === null ? { To: ['required'] } : {}), ...(sid === null ? { MessageSid: ['required'] } : {}) };
        return sendProblem(reply, validationProblem('An incoming message needs To and MessageSid.', errors));
      }
      const number = parseIdentifier(to);
      if (!number.ok || number.identifier.kind !== 'phone') {
        request.log.info({ to: maskAddress(to) }, 'inbound SMS ignored: To is not a phone number');
        return twiml(reply);
      }
      const landed = await deliverInbound(deps.services, {
        to: number.identifier.value,
        from: field(params, 'From') ?? '',
        subject: null,
        text: typeof params.Body === 'string' ? params.Body : '',
        channel: 'sms',
        sourceId: `twilio_${sid}`,
      });
      if (landed) request.log.info({ inbox_id: landed.inboxId, to: maskAddress(number.identifier.value) }, 'inbound SMS landed in a sandbox inbox');
      else request.log.info({ to: maskAddress(number.identifier.value) }, 'inbound SMS dropped: no open sandbox inbox has this number');
      return twiml(reply);
    });
  };
}
