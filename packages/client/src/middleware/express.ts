import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bearerToken, createGate, headerValue, PROBLEM_CONTENT_TYPE, type GateDecision, type OtpContext, type RequireOtpOptions } from './gate.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireOtp` when the action is allowed. */
      otp?: OtpContext;
    }
  }
}

/** `requireOtp` options for Express: the request readers take an Express `Request`. */
export type ExpressRequireOtpOptions = RequireOtpOptions<Request>;

/** Writes a refusal as `application/problem+json` (with `Retry-After` on a 429). */
function refuse(res: Response, decision: Extract<GateDecision, { allowed: false }>): void {
  const { problem, status } = decision;
  if (status === 429 && typeof problem.retry_after === 'number') res.setHeader('Retry-After', String(problem.retry_after));
  res.status(status).setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  res.send(JSON.stringify(problem));
}

/**
 * Express middleware that lets a request through only when otpgate authorizes `action` for it:
 * allowed → `next()` with `req.otp`; no valid session → 403 `otp-required`; otpgate unreachable
 * or failing → 503 `unavailable` (fails closed). With `accessToken`, a bearer JWT is verified
 * offline instead and must carry `action` in its `scope`.
 * @default session from `X-OTP-Session`, any identifier, cacheTtlMs 5000, session mode
 * @example
 * app.post('/coupons/:id/redeem', requireOtp('redemption', { client: otpgate, getIdentifier: (req) => req.user?.phone }),
 *   (req, res) => res.json({ redeemed: true, by: req.otp?.session?.identifier }));
 */
export function requireOtp(action: string, options: ExpressRequireOtpOptions): RequestHandler {
  const gate = createGate(action, options);
  const getSession = options.getSession ?? ((req: Request) => headerValue(req.headers['x-otp-session']));
  const getIdentifier = options.getIdentifier ?? (() => undefined);
  const getToken = options.accessToken?.getToken ?? ((req: Request) => bearerToken(req.headers.authorization));

  return (req: Request, res: Response, next: NextFunction): void => {
    let pending: Promise<GateDecision>;
    try {
      pending = options.accessToken ? gate({ token: getToken(req) }) : gate({ session: getSession(req), identifier: getIdentifier(req) });
    } catch (error) {
      next(error);
      return;
    }
    pending.then(
      (decision) => {
        if (decision.allowed) {
          req.otp = decision.otp;
          next();
        } else refuse(res, decision);
      },
      (error: unknown) => next(error),
    );
  };
}
