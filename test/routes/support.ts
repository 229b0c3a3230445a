import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import type { ChannelAdapter, ChannelRegistry, DeliveryJob } from '../../src/delivery/channel.js';
import type { Channel } from '../../src/domain/policy.js';
import { ADMIN_TOKEN, api, startRuntime, type TestRuntime } from '../helpers/runtime.js';

/** The RFC 9457 body the API answers errors with. */
/** An API key as the admin API issues it (its secrets shown once). */
export interface IssuedKey {
  id: string;
  mode: string;
  key: string;
  signing_secret: string;
  created_at: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Record<string, string[]>;
  retry_after?: number;
  attempts_remaining?: number;
  lock_duration?: number;
  [extra: string]: unknown;
}

export interface DeliveryBody {
  channel: string;
  status: string;
  at: string;
  provider: string | null;
  provider_message_id: string | null;
  error_code?: string;
  error?: string;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
}

export interface VerificationBody {
  id: string;
  status: string;
  failure_reason: string | null;
  identifier: string;
  identifier_type: string;
  channel: string;
  action: string;
  locale: string | null;
  code_length: number;
  attempts: number;
  max_attempts: number;
  sends: number;
  expires_at: string;
  resend_available_at: string;
  deliveries: DeliveryBody[];
  created_at: string;
  updated_at: string;
}

export interface CheckBody {
  status: string;
  verification_id: string;
  identifier: string;
  action: string;
  otp_session: string;
  session_expires_at: string;
  expires_in: number;
  identity: unknown;
}

export interface SandboxMessage {
  id: string;
  to: string;
  channel: string;
  subject: string | null;
  body: string;
  code: string | null;
  verification_id: string | null;
  received_at: string;
}

/**
 * Asserts a response is an RFC 9457 problem of `type` with HTTP `status`: problem+json content type,
 * `type`, `title`, `status` (equal to the HTTP status) and `detail`; every 429 also carries a
 * `Retry-After` header equal to the body's `retry_after`.
 */
export function expectProblem(res: LightMyRequestResponse, status: number, type: string): ProblemBody {
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as ProblemBody;
  expect(body.type).toBe(type);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe('string');
  expect(body.title.length).toBeGreaterThan(0);
  expect(typeof body.detail).toBe('string');
  expect(body.detail.length).toBeGreaterThan(0);
  if (status === 429) {
    expect(Number.isInteger(body.retry_after)).toBe(true);
    expect(body.retry_after).toBeGreaterThanOrEqual(1);
    expect(res.headers['retry-after']).toBe(String(body.retry_after));
  }
  return body;
}

/** Asserts the status code (showing the body on failure) and returns the parsed JSON body. */
export function expectJson<T>(res: LightMyRequestResponse, status: number): T {
  expect({ status: res.statusCode, body: res.body }).toMatchObject({ status });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return res.json() as T;
}

/** Operator API calls with the admin token. */
export function admin(app: FastifyInstance, token: string = ADMIN_TOKEN) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  return {
    get: (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers),
    post: (url: string, payload?: unknown, headers?: Record<string, string>) => call('POST', url, payload, headers),
    patch: (url: string, payload?: unknown, headers?: Record<string, string>) => call('PATCH', url, payload, headers),
    delete: (url: string, headers?: Record<string, string>) => call('DELETE', url, undefined, headers),
  };
}

let phoneCounter = 0;
let emailCounter = 0;

/** A fresh valid Brazilian mobile number in E.164 (distinct within a test file). */
export function phone(): string {
  phoneCounter += 1;
  return `+55119${String(80_000_000 + phoneCounter * 7)}`;
}

/** A fresh valid US number in E.164. */
export function usPhone(): string {
  phoneCounter += 1;
  return `+1415555${String(2000 + (phoneCounter % 1000)).padStart(4, '0')}`;
}

/** An E.164 Brazilian mobile as a person types it: `+55 (11) 98765-4321`. */
export function formatBr(e164: string): string {
  const m = /^\+55(\d{2})(\d{5})(\d{4})$/.exec(e164);
  if (!m) throw new Error(`not a BR mobile: ${e164}`);
  return `+55 (${m[1]}) ${m[2]}-${m[3]}`;
}

/** A fresh email address. */
export function email(): string {
  emailCounter += 1;
  return `user.${emailCounter}@example.com`;
}

/** A code of the same length that differs from `code` in every digit. */
export function wrongCode(code: string): string {
  return [...code].map((d) => String((Number(d) + 1) % 10)).join('');
}

/** Delivers everything queued, then lists the captured sandbox messages (newest first). */
export async function sandboxMessages(rt: TestRuntime, key: string, to?: string): Promise<SandboxMessage[]> {
  await rt.worker.drain();
  const query = to === undefined ? '?limit=100' : `?limit=100&to=${encodeURIComponent(to)}`;
  const res = await api(rt.app, key).get(`/v1/sandbox/messages${query}`);
  return expectJson<{ data: SandboxMessage[] }>(res, 200).data;
}

/** The code captured for one verification (delivers the queue first). */
export async function codeOf(rt: TestRuntime, key: string, verificationId: string): Promise<string> {
  const messages = (await sandboxMessages(rt, key)).filter((m) => m.verification_id === verificationId);
  const code = messages[0]?.code;
  if (!code) throw new Error(`no sandbox message for ${verificationId}`);
  return code;
}

/** Sends a code (expecting 201) and returns the verification. */
export async function send(app: FastifyInstance, key: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<VerificationBody> {
  return expectJson<VerificationBody>(await api(app, key).post('/v1/verifications', body, headers), 201);
}

/** Sends a code and returns the verification with the code the sandbox captured for it. */
export async function sendAndCapture(rt: TestRuntime, key: string, body: Record<string, unknown>): Promise<{ verification: VerificationBody; code: string }> {
  const verification = await send(rt.app, key, body);
  return { verification, code: await codeOf(rt, key, verification.id) };
}

export async function getVerification(app: FastifyInstance, key: string, id: string): Promise<VerificationBody> {
  return expectJson<VerificationBody>(await api(app, key).get(`/v1/verifications/${id}`), 200);
}

/** A live-mode provider double that accepts every message and remembers it. */
export class RecordingChannel implements ChannelAdapter {
  readonly jobs: DeliveryJob[] = [];
  constructor(readonly name: string) {}
  async send(job: DeliveryJob) {
    this.jobs.push(job);
    return { ok: true as const, status: 'sent' as const };
  }
}

export function recordingChannels(...channels: Channel[]): { registry: ChannelRegistry; adapters: Record<string, RecordingChannel> } {
  const adapters: Record<string, RecordingChannel> = {};
  const registry: ChannelRegistry = {};
  for (const c of channels) {
    const adapter = new RecordingChannel(`fake-${c}`);
    adapters[c] = adapter;
    registry[c] = adapter;
  }
  return { registry, adapters };
}

/**
 * One runtime for the file (started before all tests, disposed after). Each test starts with an
 * empty outbox, so `worker.drain()` counts only what that test queued.
 */
export function useRuntime(options: Parameters<typeof startRuntime>[0] = {}): () => TestRuntime {
  let rt: TestRuntime | undefined;
  beforeAll(async () => {
    rt = await startRuntime(options);
  });
  beforeEach(async () => {
    await rt?.worker.drain();
  });
  afterAll(async () => {
    await rt?.dispose();
  });
  return () => {
    if (!rt) throw new Error('runtime not started');
    return rt;
  };
}
