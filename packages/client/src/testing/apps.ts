/**
 * Test support (not built): a real Express app and a real Fastify app, each listening on a free
 * port with `POST /redeem` protected by `requireOtp`, plus a stub otpgate that answers authorize
 * and serves a JWKS.
 */
import express from 'express';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import type { OtpgateClient } from '../client.js';
import { headerValue, type AccessTokenOptions } from '../middleware/gate.js';
import { requireOtp as requireOtpExpress } from '../middleware/express.js';
import { requireOtp as requireOtpFastify } from '../middleware/fastify.js';
import { closeServer, problemBody, startStub, type HttpStub, type StubReply } from './http-stub.js';

/** Framework-neutral options; both adapters read the identifier from `X-User-Identifier`. */
export interface AppOptions {
  client: OtpgateClient;
  action?: string;
  cacheTtlMs?: number;
  withIdentifier?: boolean;
  accessToken?: Omit<AccessTokenOptions<unknown>, 'getToken'>;
}

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

export type Framework = { name: 'express' | 'fastify'; start(options: AppOptions): Promise<RunningApp> };

const IDENTIFIER_HEADER = 'x-user-identifier';

export const expressFramework: Framework = {
  name: 'express',
  async start(options) {
    const app = express();
    const guard = requireOtpExpress(options.action ?? 'redemption', {
      client: options.client,
      cacheTtlMs: options.cacheTtlMs,
      accessToken: options.accessToken,
      getIdentifier: options.withIdentifier ? (req) => headerValue(req.headers[IDENTIFIER_HEADER]) : undefined,
    });
    app.post('/redeem', guard, (req, res) => {
      res.json({ redeemed: true, otp: req.otp });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
  },
};

export const fastifyFramework: Framework = {
  name: 'fastify',
  async start(options) {
    const app = Fastify({ logger: false });
    const preHandler = requireOtpFastify(options.action ?? 'redemption', {
      client: options.client,
      cacheTtlMs: options.cacheTtlMs,
      accessToken: options.accessToken,
      getIdentifier: options.withIdentifier ? (request) => headerValue(request.headers[IDENTIFIER_HEADER]) : undefined,
    });
    app.post('/redeem', { preHandler }, async (request) => ({ redeemed: true, otp: request.otp }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
};

export const GOOD_SESSION = 'ots_good_session';
export const SESSION_IDENTIFIER = '+5511987654321';
export const SESSION_EXPIRES_AT = '2999-01-01T00:00:00.000Z';

export interface StubOtpgate extends HttpStub {
  /** Overrides the next answers of authorize while set. */
  override: StubReply | null;
  /** The JWKS served at `/.well-known/jwks.json`. */
  jwks: unknown;
  authorizeCalls(): number;
}

/**
 * An otpgate stand-in: `POST /v1/authorize` allows `GOOD_SESSION` (for `SESSION_IDENTIFIER` or no
 * identifier), lets the ungated action `sign_in` through, and refuses everything else with 403.
 */
export async function startStubOtpgate(): Promise<StubOtpgate> {
  const box: { self?: StubOtpgate } = {};
  const stub = await startStub((req) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') return { status: 200, body: box.self?.jwks };
    if (req.method !== 'POST' || req.url !== '/v1/authorize') return { status: 404, body: problemBody('not-found', 404, 'no route') };
    if (box.self?.override) return box.self.override;
    if (req.headers['x-api-key'] !== 'otpg_test_mw') return { status: 401, body: problemBody('invalid-api-key', 401, 'bad key') };
    const body = req.json as { action: string; identifier?: string };
    if (body.action === 'sign_in') return { status: 200, body: { allowed: true, otp_required: false } };
    const sessionOk = req.headers['x-otp-session'] === GOOD_SESSION && (body.identifier === undefined || body.identifier === SESSION_IDENTIFIER);
    if (!sessionOk) return { status: 403, body: problemBody('otp-required', 403, 'A valid OTP session is required.') };
    return { status: 200, body: { allowed: true, otp_required: true, session: { identifier: SESSION_IDENTIFIER, identity: null, expires_at: SESSION_EXPIRES_AT } } };
  });
  const self: StubOtpgate = Object.assign(stub, {
    override: null,
    jwks: { keys: [] } as unknown,
    authorizeCalls: () => stub.requests.filter((r) => r.url === '/v1/authorize').length,
  });
  box.self = self;
  return self;
}
