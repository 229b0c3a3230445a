/**
 * The operator console's credential: a session cookie from signing in with the admin token, and a
 * CSRF token bound to that session for every state change. Accepted on /admin/v1/* beside
 * `Authorization: Bearer <admin token>` (docs/dashboard.md, "Security model").
 *
 * The cookie is stateless and signed: `v1.<session id>.<issued ms>.<last seen ms>.<HMAC>`, the HMAC
 * keyed by the server secret and the admin token (changing OTPGATE_ADMIN_TOKEN ends every session).
 * It lapses after `idleMs` without a request (each request moves "last seen" on, re-issuing the
 * cookie at most every `refreshMs`) and `maxMs` after sign-in. Signing out records the session id
 * as revoked in every process (the `console-session` notice) until the session could have lapsed anyway.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { sha256Hex } from '../../domain/codes.js';
import { ProblemError, problem } from '../../domain/errors.js';
import type { Notifier } from '../../pubsub.js';

export const SESSION_COOKIE = 'otpgate_session';
export const CSRF_COOKIE = 'otpgate_csrf';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SESSION_ID = /^[0-9A-Za-z_-]{22}$/;

export interface OperatorSession {
  readonly sid: string;
  readonly issuedAt: number;
  readonly seenAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The console session this request signed in with (set by `operatorAuth`). */
    operatorSession?: OperatorSession;
  }
}

export interface OperatorSessionOptions {
  serverSecret: Buffer;
  adminToken: string;
  idleMs: number;
  maxMs: number;
  /** Secure cookies (OTPGATE_PUBLIC_URL is https). */
  secure: boolean;
  now: () => number;
  notifier?: Notifier;
}

/** Compares two strings in constant time (for equal lengths; lengths are not secret here). */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class OperatorSessions {
  private readonly key: Buffer;
  private readonly adminDigest: Buffer;
  /** Signed-out session ids → until when they could still be presented. */
  private readonly revoked = new Map<string, number>();
  readonly refreshMs: number;

  constructor(readonly options: OperatorSessionOptions) {
    this.key = createHmac('sha256', options.serverSecret).update(`otpgate console session\n${sha256Hex(options.adminToken)}`).digest();
    this.adminDigest = Buffer.from(sha256Hex(options.adminToken), 'hex');
    this.refreshMs = Math.min(60_000, Math.floor(options.idleMs / 4));
    options.notifier?.subscribe('console-session', (message) => {
      const [sid, until] = message.split(' ');
      if (sid && SESSION_ID.test(sid) && Number(until) > 0) this.revoked.set(sid, Number(until));
    });
  }

  /** The key CSRF tokens are bound to sessions with. */
  csrfKey(): Buffer {
    return createHmac('sha256', this.key).update('csrf').digest();
  }

  /** Whether `given` is the admin token (constant time). */
  isAdminToken(given: string): boolean {
    return given !== '' && timingSafeEqual(Buffer.from(sha256Hex(given), 'hex'), this.adminDigest);
  }

  issue(now = this.options.now()): { session: OperatorSession; value: string } {
    const session = { sid: randomBytes(16).toString('base64url'), issuedAt: now, seenAt: now };
    return { session, value: this.encode(session) };
  }

  /** The session a cookie value carries, when signed by this server and neither idle, too old nor signed out. */
  read(value: string | undefined, now = this.options.now()): OperatorSession | null {
    if (!value || value.length > 200) return null;
    const parts = value.split('.');
    if (parts.length !== 5 || parts[0] !== 'v1') return null;
    const [, sid, issued, seen, mac] = parts as [string, string, string, string, string];
    if (!SESSION_ID.test(sid) || !/^\d{1,15}$/.test(issued) || !/^\d{1,15}$/.test(seen)) return null;
    if (!sameText(mac, this.mac(`v1.${sid}.${issued}.${seen}`))) return null;
    const session = { sid, issuedAt: Number(issued), seenAt: Number(seen) };
    if (now - session.seenAt >= this.options.idleMs || now - session.issuedAt >= this.options.maxMs || session.seenAt < session.issuedAt) return null;
    const revokedUntil = this.revoked.get(sid);
    if (revokedUntil !== undefined) {
      if (revokedUntil > now) return null;
      this.revoked.delete(sid);
    }
    return session;
  }

  /** Moves "last seen" on: the cookie value to send, or null when the current one is recent enough. */
  touched(session: OperatorSession, now = this.options.now()): string | null {
    if (now - session.seenAt < this.refreshMs) return null;
    return this.encode({ ...session, seenAt: now });
  }

  /** Signs a session out in this process and, through the notifier, in the others. */
  revoke(session: OperatorSession, now = this.options.now()): void {
    const until = Math.min(session.issuedAt + this.options.maxMs, now + this.options.idleMs);
    for (const [sid, lapse] of this.revoked) if (lapse <= now) this.revoked.delete(sid);
    this.revoked.set(session.sid, until);
    this.options.notifier?.publish('console-session', `${session.sid} ${until}`);
  }

  cookieOptions(): { path: string; httpOnly: true; sameSite: 'strict'; secure: boolean } {
    return { path: '/', httpOnly: true, sameSite: 'strict', secure: this.options.secure };
  }

  private encode(s: OperatorSession): string {
    const body = `v1.${s.sid}.${s.issuedAt}.${s.seenAt}`;
    return `${body}.${this.mac(body)}`;
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}

/**
 * Registers cookie parsing and CSRF tokens (bound to the session id) in one encapsulated scope: the
 * console's routes and the admin API each call it, so nothing else parses cookies.
 */
export async function registerOperatorCredentials(scope: FastifyInstance, sessions: OperatorSessions): Promise<void> {
  await scope.register(cookie);
  await scope.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: CSRF_COOKIE,
    cookieOpts: sessions.cookieOptions(),
    getToken: (request: FastifyRequest) => {
      const token = request.headers[CSRF_HEADER];
      return typeof token === 'string' ? token : '';
    },
    getUserInfo: (request: FastifyRequest) => request.operatorSession?.sid ?? '',
    csrfOpts: { hmacKey: sessions.csrfKey() },
  });
}

/** Sets the session cookie (a fresh or touched value). */
export function setSessionCookie(reply: FastifyReply, sessions: OperatorSessions, value: string): void {
  reply.setCookie(SESSION_COOKIE, value, { ...sessions.cookieOptions(), maxAge: Math.ceil(sessions.options.maxMs / 1000) });
}

export function clearOperatorCookies(reply: FastifyReply, sessions: OperatorSessions): void {
  reply.clearCookie(SESSION_COOKIE, sessions.cookieOptions());
  reply.clearCookie(CSRF_COOKIE, sessions.cookieOptions());
}

/**
 * Operator routes: `Authorization: Bearer <admin token>` (checked when present, and then alone), or
 * a console session cookie; with the cookie, a method other than GET/HEAD/OPTIONS also needs the
 * session's CSRF token in X-CSRF-Token (403 `csrf-failed`). Needs `registerOperatorCredentials` in
 * the same scope.
 */
export function operatorAuth(scope: FastifyInstance, sessions: OperatorSessions) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const auth = request.headers.authorization;
    if (auth !== undefined) {
      const given = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
      return done(sessions.isAdminToken(given) ? undefined : refused());
    }
    const session = sessions.read(request.cookies[SESSION_COOKIE]);
    if (!session) return done(refused());
    request.operatorSession = session;
    const touched = sessions.touched(session);
    if (touched) setSessionCookie(reply, sessions, touched);
    if (SAFE_METHODS.has(request.method)) return done();
    scope.csrfProtection(request, reply, done);
  };
}

const refused = (): ProblemError =>
  new ProblemError(problem('invalid-api-key', 'Operator routes need Authorization: Bearer <admin token>, or a signed-in console session.'));
