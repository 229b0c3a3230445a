import type { FastifyReply } from 'fastify';
import { PROBLEM_TYPES, type Problem, type Result } from '../domain/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The RFC 9457 body of a problem; `Retry-After` is set on every 429. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  const { status, title } = PROBLEM_TYPES[p.type];
  const body: Record<string, unknown> = { type: p.type, title, status, detail: p.detail, ...p.extra };
  if (status === 429 && typeof body.retry_after === 'number') reply.header('retry-after', String(body.retry_after));
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Maps a service result to the reply: the value with `status`, or its problem. */
export function sendResult<T>(reply: FastifyReply, result: Result<T>, status = 200): FastifyReply {
  return result.ok ? reply.code(status).send(result.value) : sendProblem(reply, result.problem);
}
