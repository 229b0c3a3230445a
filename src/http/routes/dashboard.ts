/**
 * The operator console at /dashboard (docs/dashboard.md): the built single-page app (dist/dashboard,
 * from dashboard/ by scripts/build-dashboard.mjs), sign-in and sign-out. Its pages read and change
 * everything through the admin API (/admin/v1/*) with the session cookie and CSRF token set here.
 *
 * Everything under /dashboard carries a strict Content-Security-Policy (scripts and styles from this
 * origin only, nothing inline, no framing) and is compressed; hashed assets are cached for a year
 * (immutable), the page itself never (no-cache).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import compress from '@fastify/compress';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { Type } from 'typebox';
import { ProblemError, problem, tooMany } from '../../domain/errors.js';
import { sendProblem } from '../problem-reply.js';
import {
  SESSION_COOKIE,
  clearOperatorCookies,
  registerOperatorCredentials,
  setSessionCookie,
  type OperatorSession,
  type OperatorSessions,
} from '../plugins/operator-session.js';

/** The repository (or installed package) root: this file is src/http/routes/ or dist/http/routes/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DASHBOARD_DIST = join(ROOT, 'dist', 'dashboard');

export interface DashboardOptions {
  sessions: OperatorSessions;
  /** Wrong tokens one address may try per window at sign-in. */
  signInAttempts: number;
  signInWindowMs: number;
  /** Where the built console is (default dist/dashboard). */
  dir?: string;
}

const PAGE = /^\/dashboard\/(?:[a-z-]+(?:\/[A-Za-z0-9_-]{1,80}){0,2})?$/;
const ASSET = /^[A-Za-z0-9_-]{1,80}\.(?:js|css)(?:\.map|\.LEGAL\.txt)?$/;

export const dashboardRoutes = (options: DashboardOptions): FastifyPluginAsyncTypebox => async (app) => {
  const { sessions } = options;
  const dir = options.dir ?? DASHBOARD_DIST;
  const built = existsSync(join(dir, 'index.html'));
  const secure = sessions.options.secure;

  await registerOperatorCredentials(app, sessions);
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(secure ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    strictTransportSecurity: secure ? { maxAge: 15_552_000, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
  });
  await app.register(compress, { global: true, threshold: 1024, encodings: ['br', 'gzip', 'deflate'] });
  if (built) await app.register(fastifyStatic, { root: dir, serve: false, index: false });

  const limiter = new RateLimiterMemory({ points: options.signInAttempts, duration: Math.max(1, Math.ceil(options.signInWindowMs / 1000)) });
  const current = (request: FastifyRequest): OperatorSession | null => sessions.read(request.cookies[SESSION_COOKIE]);
  const notBuilt = (reply: FastifyReply) => sendProblem(reply, problem('unavailable', 'The console is not built: run `npm run build:dashboard` (npm start builds it).', { retry_after: 60 }));
  const sendPage = (reply: FastifyReply) => {
    if (!built) return notBuilt(reply);
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').sendFile('index.html', { cacheControl: false });
  };

  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard/', 308));

  app.get('/dashboard/assets/:file', { schema: { hide: true, params: Type.Object({ file: Type.String({ maxLength: 100 }) }) } }, async (request, reply) => {
    if (!built) return notBuilt(reply);
    if (!ASSET.test(request.params.file) || !existsSync(join(dir, 'assets', request.params.file))) return sendProblem(reply, problem('not-found', 'No such console asset.'));
    return reply.header('cache-control', 'public, max-age=31536000, immutable').sendFile(join('assets', request.params.file), { cacheControl: false });
  });

  // Pages: the sign-in page is open; every other page needs the session (else 303 to sign-in).
  app.get('/dashboard/sign-in', { schema: { hide: true } }, async (_request, reply) => sendPage(reply));
  app.get('/dashboard/*', { schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (!PAGE.test(path)) return sendProblem(reply, problem('not-found', 'No such console page.'));
    if (!current(request)) return reply.header('cache-control', 'no-store').redirect(`/dashboard/sign-in?next=${encodeURIComponent(path)}`, 303);
    return sendPage(reply);
  });

  // The session: sign in with the admin token (rate-limited per address), read it (with its CSRF token), sign out.
  app.post(
    '/dashboard/session',
    { schema: { hide: true, body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }) } },
    async (request, reply) => {
      const key = request.ip;
      const spent = await limiter.get(key);
      if (spent && spent.consumedPoints >= options.signInAttempts) return sendProblem(reply, tooMany('rate-limit-exceeded', 'Too many wrong admin tokens from this address; wait before trying again.', spent.msBeforeNext));
      if (!sessions.isAdminToken(request.body.token.trim())) {
        request.log.warn({ ip: request.ip }, 'console sign-in with a wrong admin token');
        try {
          await limiter.consume(key);
        } catch (refusal) {
          if (refusal instanceof RateLimiterRes) return sendProblem(reply, tooMany('rate-limit-exceeded', 'Too many wrong admin tokens from this address; wait before trying again.', refusal.msBeforeNext));
          throw refusal;
        }
        return sendProblem(reply, problem('invalid-api-key', 'That is not the admin token.'));
      }
      await limiter.delete(key);
      const { session, value } = sessions.issue();
      request.operatorSession = session;
      setSessionCookie(reply, sessions, value);
      return reply.header('cache-control', 'no-store').send(describe(session, reply.generateCsrf({ userInfo: session.sid })));
    },
  );

  app.get('/dashboard/session', { schema: { hide: true } }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const session = current(request);
    if (!session) return sendProblem(reply, problem('invalid-api-key', 'Not signed in.'));
    request.operatorSession = session;
    const touched = sessions.touched(session);
    if (touched) setSessionCookie(reply, sessions, touched);
    return describe(session, reply.generateCsrf({ userInfo: session.sid }));
  });

  app.delete(
    '/dashboard/session',
    {
      schema: { hide: true },
      // The session, then its CSRF token (a refusal is answered by the error handler: 403 csrf-failed).
      onRequest: (request, reply, done) => {
        const session = current(request);
        if (!session) {
          clearOperatorCookies(reply, sessions);
          return done(new ProblemError(problem('invalid-api-key', 'Not signed in.')));
        }
        request.operatorSession = session;
        app.csrfProtection(request, reply, done);
      },
    },
    async (request, reply) => {
      if (request.operatorSession) sessions.revoke(request.operatorSession);
      clearOperatorCookies(reply, sessions);
      return reply.header('cache-control', 'no-store').code(204).send();
    },
  );

  function describe(session: OperatorSession, csrfToken: string) {
    const { idleMs, maxMs } = sessions.options;
    return {
      signed_in: true,
      csrf_token: csrfToken,
      idle_timeout_s: Math.round(idleMs / 1000),
      expires_at: new Date(session.issuedAt + maxMs).toISOString(),
    };
  }
};
