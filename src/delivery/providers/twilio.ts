/**
 * Twilio Programmable Messaging (SMS): `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded,
 * HTTP Basic auth with the Account SID and auth token.
 *
 * Idempotency: Twilio documents no idempotency key or header for creating a Message (twilio-node's
 * MessageListInstance.create sends no such field; `IdempotencyKey` exists only on a few Voice resources, and
 * `I-Twilio-Idempotency-Token` is a header Twilio puts on the webhooks it sends, not one it reads). So none is sent:
 * a retry after an unclear outcome (timeout, 5xx) may send the SMS twice.
 */
import type { Channel } from '../../domain/policy.js';
import type { DeliveryJob, SendFailure, SendOutcome } from '../channel.js';
import { readBodyText } from './http-client.js';
import { createHttpClient } from '../../net/http-thread.js';
import { httpFailure, transportFailure, type Provider, type ProviderCheck } from './provider.js';

export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  /** A sending number (E.164 or an alphanumeric sender id) or a Messaging Service SID (`MG…`). */
  from: string;
  /** `https://api.twilio.com` (a fake in tests). */
  baseUrl: string;
  /** Where Twilio posts the message's status changes; null: no callback. */
  statusCallbackUrl: string | null;
}

const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
/** Twilio's own code for "Too Many Requests" (sent with HTTP 429). */
const TOO_MANY_REQUESTS = '20429';
const MAX_MESSAGE = 300;

interface TwilioError {
  code?: unknown;
  message?: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export class TwilioProvider implements Provider {
  readonly name = 'twilio' as const;
  readonly channels: readonly Channel[] = ['sms'];
  private readonly root: string;
  private readonly authorization: string;
  /** Keep-alive connections to the Twilio API, reused across calls. */
  private readonly http = createHttpClient();

  constructor(private readonly config: TwilioConfig) {
    this.root = `${config.baseUrl.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(config.accountSid)}`;
    this.authorization = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`, 'utf-8').toString('base64')}`;
  }

  readonly enforcesTimeout = true;

  async send(job: DeliveryJob, signal?: AbortSignal, timeoutMs?: number): Promise<SendOutcome> {
    const sender = job.overrides?.smsFrom || this.config.from;
    const form = new URLSearchParams();
    form.set('To', job.to);
    form.set('Body', job.text);
    if (MESSAGING_SERVICE_SID.test(sender)) form.set('MessagingServiceSid', sender);
    else form.set('From', sender);
    if (this.config.statusCallbackUrl) form.set('StatusCallback', this.config.statusCallbackUrl);

    try {
      const res = await this.http.request(`${this.root}/Messages.json`, {
        method: 'POST',
        headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal: signal ?? null,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      const text = await readBodyText(res);
      const body = asRecord(parseJson(text));
      if (res.status >= 200 && res.status < 300) return this.accepted(body, job);
      return this.failure(res.status, body, res.headers['retry-after'] ?? null, job);
    } catch (err) {
      return this.scrub(transportFailure('twilio', err, signal), job);
    }
  }

  async check(signal?: AbortSignal): Promise<ProviderCheck> {
    try {
      const res = await this.http.request(`${this.root}.json`, {
        method: 'GET',
        headers: { authorization: this.authorization, accept: 'application/json' },
        signal: signal ?? null,
      });
      const body = asRecord(parseJson(await readBodyText(res)));
      if (res.status < 200 || res.status >= 300) {
        const err = (body ?? {}) as TwilioError;
        const code = typeof err.code === 'number' || typeof err.code === 'string' ? ` (code ${String(err.code)})` : '';
        const message = typeof err.message === 'string' && err.message ? `: ${err.message.slice(0, MAX_MESSAGE)}` : '';
        return { ok: false, detail: this.redact(`twilio: HTTP ${res.status}${message}${code}`) };
      }
      const name = typeof body?.friendly_name === 'string' ? body.friendly_name : this.config.accountSid;
      const status = typeof body?.status === 'string' ? body.status : 'unknown';
      // A suspended or closed account answers the read but cannot send.
      return { ok: status === 'active', detail: this.redact(`account ${name} (${status})`) };
    } catch (err) {
      const failure = transportFailure('twilio', err, signal);
      return { ok: false, detail: this.redact(failure.error) };
    }
  }

  /** Closes the keep-alive connections to the Twilio API. */
  async close(): Promise<void> {
    await this.http.close();
  }

  /** A 2xx: the message resource. Twilio rarely fails a message at creation, but when it says so, so do we. */
  private accepted(body: Record<string, unknown> | undefined, job: DeliveryJob): SendOutcome {
    const status = typeof body?.status === 'string' ? body.status : undefined;
    if (status === 'failed' || status === 'undelivered') {
      const code = body?.error_code;
      const failure: SendFailure = {
        ok: false,
        retryable: false,
        error: `twilio: message ${status}${typeof body?.error_message === 'string' ? `: ${body.error_message.slice(0, MAX_MESSAGE)}` : ''}`,
        provider: 'twilio',
      };
      if (typeof code === 'number' || (typeof code === 'string' && code)) failure.errorCode = String(code);
      return this.scrub(failure, job);
    }
    const sid = typeof body?.sid === 'string' && body.sid ? body.sid : undefined;
    return sid ? { ok: true, status: 'sent', provider: 'twilio', providerId: sid } : { ok: true, status: 'sent', provider: 'twilio' };
  }

  /** Twilio's error body is `{code, message, more_info, status}`. */
  private failure(status: number, body: Record<string, unknown> | undefined, retryAfter: string | null, job: DeliveryJob): SendFailure {
    const err = (body ?? {}) as TwilioError;
    const errorCode = typeof err.code === 'number' || (typeof err.code === 'string' && err.code) ? String(err.code) : undefined;
    const message = typeof err.message === 'string' && err.message ? err.message.slice(0, MAX_MESSAGE) : undefined;
    const failure = httpFailure('twilio', status, { errorCode, message, retryAfter });
    if (errorCode === TOO_MANY_REQUESTS) failure.retryable = true;
    return this.scrub(failure, job);
  }

  /** The error text never carries the code or the auth token (Twilio may echo what it was sent). */
  private scrub(failure: SendFailure, job: DeliveryJob): SendFailure {
    failure.error = this.redact(failure.error, job.code);
    return failure;
  }

  private redact(text: string, code?: string): string {
    let out = text;
    for (const secret of [this.config.authToken, code]) {
      if (secret) out = out.split(secret).join('[redacted]');
    }
    return out;
  }
}
