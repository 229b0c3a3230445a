/**
 * Helpers for the live-delivery suites: a real SMTP server that keeps what it receives, the
 * environment that points otpgate's providers at the fakes, and readers for the events table,
 * the outbox and the Prometheus text.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { expect } from 'vitest';
import type { FakeTwilio } from '../fakes/twilio.js';
import type { FakeWhatsApp } from '../fakes/whatsapp.js';
import { ADMIN_TOKEN, type TestRuntime } from '../helpers/runtime.js';

export const WHATSAPP_APP_SECRET = 'whatsapp-app-secret-for-tests';
export const WHATSAPP_VERIFY_TOKEN = 'whatsapp-verify-token-for-tests';
export const PUBLIC_URL = 'https://otpgate.example.test';
export const EMAIL_FROM = 'otpgate <no-reply@otpgate.example.test>';
export const TWILIO_FROM = '+15005550006';

/** One message the SMTP server accepted. */
export interface ReceivedMail {
  mailFrom: string | false;
  rcptTo: string[];
  mail: ParsedMail;
}

export interface TestSmtp {
  port: number;
  url: string;
  received: ReceivedMail[];
  close(): Promise<void>;
}

/** A real SMTP server (smtp-server) on 127.0.0.1 and a random port; every message is parsed and kept. */
export async function startSmtp(): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    disableReverseLookup: true,
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          received.push({
            mail,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
          });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The environment that configures otpgate's live providers against the fakes (each optional). */
export function providerEnv(p: { whatsapp?: FakeWhatsApp; twilio?: FakeTwilio; smtp?: TestSmtp; extra?: Record<string, string> }): Record<string, string> {
  const env: Record<string, string> = { OTPGATE_PUBLIC_URL: PUBLIC_URL };
  if (p.whatsapp) {
    Object.assign(env, {
      OTPGATE_WHATSAPP_TOKEN: p.whatsapp.token,
      OTPGATE_WHATSAPP_PHONE_NUMBER_ID: p.whatsapp.phoneNumberId,
      OTPGATE_WHATSAPP_TEMPLATE: p.whatsapp.templates[0] ?? 'otp_code',
      OTPGATE_WHATSAPP_BASE_URL: p.whatsapp.baseUrl,
      OTPGATE_WHATSAPP_APP_SECRET: WHATSAPP_APP_SECRET,
      OTPGATE_WHATSAPP_VERIFY_TOKEN: WHATSAPP_VERIFY_TOKEN,
    });
  }
  if (p.twilio) {
    Object.assign(env, {
      OTPGATE_TWILIO_ACCOUNT_SID: p.twilio.accountSid,
      OTPGATE_TWILIO_AUTH_TOKEN: p.twilio.authToken,
      OTPGATE_TWILIO_FROM: TWILIO_FROM,
      OTPGATE_TWILIO_BASE_URL: p.twilio.baseUrl,
    });
  }
  if (p.smtp) Object.assign(env, { OTPGATE_SMTP_URL: p.smtp.url, OTPGATE_EMAIL_FROM: EMAIL_FROM });
  return { ...env, ...p.extra };
}

/** The code a WhatsApp send carried: the authentication template's body parameter. */
export function whatsAppCode(body: unknown): string {
  const template = (body as { template?: { components?: { type: string; parameters?: { text?: string }[] }[] } }).template;
  const text = template?.components?.find((c) => c.type === 'body')?.parameters?.[0]?.text;
  if (typeof text !== 'string') throw new Error(`no code in the WhatsApp request: ${JSON.stringify(body)}`);
  return text;
}

/** The WhatsApp `POST …/messages` calls the fake received (not the phone-number reads). */
export function whatsAppSends(fake: FakeWhatsApp) {
  return fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/messages'));
}

/** The Twilio `POST …/Messages.json` calls the fake received. */
export function twilioSends(fake: FakeTwilio) {
  return fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));
}

export interface StoredEvent {
  id: string;
  type: string;
  mode: string;
  /** The verification as GET /v1/verifications/{id} shows it, plus the attempt (`delivery`) and the channel tried next. */
  data: { id: string; status: string; deliveries: Record<string, unknown>[]; delivery: Record<string, unknown>; next_channel: string | null };
  created_at: number;
}

/** The recorded events of one verification (oldest first), optionally of one type. */
export async function eventsOf(rt: TestRuntime, verificationId: string, type?: string): Promise<StoredEvent[]> {
  const rows = await rt.store.db.selectFrom('events').selectAll().orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
  return rows
    .map((r) => ({ id: r.id, type: r.type, mode: r.mode, data: JSON.parse(r.data_json) as StoredEvent['data'], created_at: r.created_at }))
    .filter((e) => e.data.id === verificationId && (type === undefined || e.type === type));
}

/** Outbox messages of an integration (any kind, any status). */
export async function outboxOf(rt: TestRuntime, integrationId: string) {
  return rt.store.db.selectFrom('outbox').selectAll().where('integration_id', '=', integrationId).execute();
}

/** The Prometheus exposition of /metrics (admin token). */
export async function metricsText(rt: TestRuntime): Promise<string> {
  const res = await rt.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.statusCode).toBe(200);
  return res.body;
}

/** The sum of the samples of `name` carrying (at least) these labels; 0 when there is none. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
