import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProblemError, problem, validationProblem, type Problem } from '../../domain/errors.js';
import { rawProblemResponse, sendProblem } from '../problem-reply.js';

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

const CODES: Record<string, string> = {
  required: 'required',
  type: 'invalid_type',
  additionalProperties: 'unknown_field',
  maxLength: 'too_long',
  minLength: 'too_short',
  pattern: 'invalid_format',
  format: 'invalid_format',
  enum: 'invalid_value',
  const: 'invalid_value',
  anyOf: 'invalid_value',
  oneOf: 'invalid_value',
  minimum: 'out_of_range',
  maximum: 'out_of_range',
  minItems: 'too_few',
  maxItems: 'too_many',
  uniqueItems: 'duplicate',
  maxProperties: 'too_many',
  propertyNames: 'invalid_format',
};

/** Ajv errors → `{field: [code]}` with dotted field paths (`policy.code.length`). */
export function fieldErrors(errors: AjvError[]): Record<string, string[]> {
  // No prototype: field names come from the client (`valueOf`, `__proto__`, …).
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const e of errors) {
    const base = e.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
    const extra = (e.params.missingProperty ?? e.params.additionalProperty ?? e.params.propertyName) as string | undefined;
    const field = [base, extra].filter(Boolean).join('.') || '(body)';
    const code = CODES[e.keyword] ?? e.keyword;
    const list = (out[field] ??= []);
    if (!list.includes(code)) list.push(code);
  }
  return out;
}

/**
 * Every error leaves as RFC 9457 problem+json with one of the API's slugs: schema failures as
 * `validation-error` with `errors{}`, parser failures as 400/413, unknown routes as 404, and
 * anything unexpected as a logged 500 that says nothing of its cause.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) return sendProblem(reply, error.problem);
    if (error.validation) {
      const where = error.validationContext ?? 'body';
      return sendProblem(reply, validationProblem(`The request ${where} is not valid.`, fieldErrors(error.validation as AjvError[])));
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(reply, problem('payload-too-large', 'The request body is larger than 64 KiB.'));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(reply, validationProblem('Request bodies must be JSON (Content-Type: application/json).', { '(body)': ['unsupported_media_type'] }));
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendProblem(reply, validationProblem('The Content-Length does not match the body.', { '(body)': ['invalid_length'] }));
      // @fastify/csrf-protection (the operator console's session): a state change without its token.
      case 'FST_CSRF_MISSING_SECRET':
      case 'FST_CSRF_INVALID_TOKEN':
        return sendProblem(reply, problem('csrf-failed', 'A signed-in console request that changes state needs the X-CSRF-Token header of its session.'));
    }
    if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.statusCode === 400) {
      return sendProblem(reply, validationProblem('The request body is not valid JSON.', { '(body)': ['invalid_json'] }));
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return sendProblem(reply, problem(error.statusCode === 404 ? 'not-found' : 'validation-error', error.message));
    }
    if (isStoreUnavailable(error)) {
      request.log.error({ err: error }, 'store unavailable');
      return sendProblem(reply, problem('unavailable', 'The store is not reachable; try again shortly.', { retry_after: 1 }));
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, problem('internal-error', 'Something went wrong on our side; it has been logged.'));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem('not-found', `No route for ${request.method} ${request.url.split('?')[0]}.`)),
  );
}

function isStoreUnavailable(error: { code?: string; message?: string }): boolean {
  // Connection loss, shutdown, busy, and Postgres deadlock/serialization aborts: all worth a retry.
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08003', '40P01', '40001', 'SQLITE_BUSY'].includes(error.code ?? '') ||
    /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout/i.test(error.message ?? '')
  );
}

/**
 * Fastify's `frameworkErrors`: refusals of the router before any route runs. A path parameter
 * longer than `maxParamLength` is 414 `uri-too-long`, a malformed percent-encoding 400; neither
 * echoes the path (it can be huge, or carry what the client should not see reflected).
 */
export function frameworkErrorProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // These replies skip the app's onSend hooks: set what they would.
  reply.header('x-request-id', request.id).header('cache-control', 'no-store');
  switch (error.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      sendProblem(reply, problem('uri-too-long', 'A path segment of the request URI is too long.'));
      return;
    case 'FST_ERR_BAD_URL':
      sendProblem(reply, validationProblem('The request path is not valid (bad percent-encoding).', { '(path)': ['invalid_format'] }));
      return;
    default:
      request.log.error({ err: error }, 'router error');
      sendProblem(reply, problem('internal-error', 'Something went wrong on our side; it has been logged.'));
  }
}

/** Node's refusal of a connection's request (before Fastify sees it) → the problem to answer. */
function clientErrorProblem(code: string | undefined): Problem {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return problem('request-timeout', 'The request was not received in time; the connection is closed.');
    case 'HPE_HEADER_OVERFLOW':
      return problem('headers-too-large', 'The request line and headers are larger than the server accepts.');
    default:
      return validationProblem('The request is not valid HTTP.', { '(request)': ['malformed'] });
  }
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError`): request and header timeouts (408), headers
 * over Node's limit (431) and unparsable requests (400) answered as problems that echo nothing, then
 * the socket is closed. Like Node's own handler, nothing is written once a response has started
 * on the socket (that would corrupt it for the peer).
 */
export function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) socket.end(rawProblemResponse(clientErrorProblem(error.code)));
  this.log.debug({ err: error }, 'client error');
  socket.destroySoon();
}
