import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken, createGate, headerValue, PROBLEM_CONTENT_TYPE, type OtpContext, type RequireOtpOptions } from './gate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireOtp` when the action is allowed. */
    otp?: OtpContext;
  }
}

/** `requireOtp` options for Fastify: the request readers take a `FastifyRequest`. */
export type FastifyRequireOtpOptions = RequireOtpOptions<FastifyRequest>;

/** An async `preHandler` (or `onRequest`) hook. */
export type OtpPreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/**
 * A Fastify `preHandler` hook that lets a request through only when otpgate authorizes `action`:
 * allowed → `request.otp`; no valid session → 403 `otp-required`; otpgate unreachable or failing
 * → 503 `unavailable` (fails closed). With `accessToken`, a bearer JWT is verified offline instead
 * and must carry `action` in its `scope`.
 * @default session from `X-OTP-Session`, any identifier, cacheTtlMs 5000, session mode
 * @example
 * app.post('/coupons/:id/redeem', { preHandler: requireOtp('redemption', { client: otpgate }) },
 *   async (request) => ({ redeemed: true, by: request.otp?.session?.identifier }));
 */
export function requireOtp(action: string, options: FastifyRequireOtpOptions): OtpPreHandler {
  const gate = createGate(action, options);
  const getSession = options.getSession ?? ((request: FastifyRequest) => headerValue(request.headers['x-otp-session']));
  const getIdentifier = options.getIdentifier ?? (() => undefined);
  const getToken = options.accessToken?.getToken ?? ((request: FastifyRequest) => bearerToken(request.headers.authorization));

  return async (request, reply) => {
    const decision = options.accessToken
      ? await gate({ token: getToken(request) })
      : await gate({ session: getSession(request), identifier: getIdentifier(request) });
    if (decision.allowed) {
      request.otp = decision.otp;
      return undefined;
    }
    const { problem, status } = decision;
    if (status === 429 && typeof problem.retry_after === 'number') reply.header('retry-after', String(problem.retry_after));
    return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(problem);
  };
}
