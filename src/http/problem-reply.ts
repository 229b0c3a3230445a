import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { PROBLEM_TYPES, type Problem, type Result } from '../domain/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The RFC 9457 body of a problem. */
export function problemBody(p: Problem): Record<string, unknown> {
  const { status, title } = PROBLEM_TYPES[p.type];
  return { type: p.type, title, status, detail: p.detail, ...p.extra };
}

/**
 * A whole HTTP/1.1 response carrying a problem, for the raw socket of a request Node refused before
 * any reply object existed (timeouts, header overflow, unparsable requests). It closes the connection.
 */
export function rawProblemResponse(p: Problem): string {
  const { status } = PROBLEM_TYPES[p.type];
  const body = JSON.stringify(problemBody(p));
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** The RFC 9457 body of a problem; `Retry-After` is set on every 429. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  const { status } = PROBLEM_TYPES[p.type];
  const body = problemBody(p);
  if (status === 429 && typeof body.retry_after === 'number') reply.header('retry-after', String(body.retry_after));
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Maps a service result to the reply: the value with `status`, or its problem. */
export function sendResult<T>(reply: FastifyReply, result: Result<T>, status = 200): FastifyReply {
  return result.ok ? reply.code(status).send(result.value) : sendProblem(reply, result.problem);
}
