/**
 * Email over SMTP (nodemailer, pooled connections).
 *
 * The Message-ID is derived from the outbox id, so a redelivery of the same message carries the
 * same Message-ID and can be recognised (by the relay, the mailbox or an operator reading logs).
 * An SMTP 5xx answer is permanent (the same envelope would be refused again), a 4xx or a network
 * problem is worth retrying. The password in the URL never reaches a log or an error text.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { Channel } from '../../domain/policy.js';
import type { DeliveryJob, SendFailure, SendOutcome } from '../channel.js';
import type { Provider, ProviderCheck } from './provider.js';

export interface SmtpConfig {
  /** `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://user:pass@host:465`. */
  smtpUrl: string;
  /** The default From address (an integration may override it). */
  from: string;
  /** Connection, greeting and socket inactivity timeout. */
  timeoutMs: number;
}

/** A stable Message-ID for one outbox message: `<obx_…@otpgate>` (hashed if the id has unusual characters). */
export function messageIdFor(sourceId: string): string {
  const local = /^[A-Za-z0-9._-]{1,200}$/.test(sourceId) ? sourceId : createHash('sha256').update(sourceId).digest('hex');
  return `<${local}@otpgate>`;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  command?: string;
}

class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortError';
  }
}

/** Resolves with `promise`, or rejects with an AbortedError as soon as `signal` aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  promise.catch(() => undefined); // the loser's rejection is not unhandled
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export class SmtpProvider implements Provider {
  readonly name = 'smtp' as const;
  readonly channels: readonly Channel[] = ['email'];
  private readonly transport: nodemailer.Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;
  /** Strings that must never appear in an error text (the password, raw and decoded). */
  private readonly secrets: string[];
  private readonly server: string;

  constructor(private readonly config: SmtpConfig) {
    this.secrets = [];
    let server = 'the SMTP server';
    try {
      const parsed = new URL(config.smtpUrl);
      if (parsed.password) {
        this.secrets.push(parsed.password);
        try {
          this.secrets.push(decodeURIComponent(parsed.password));
        } catch {
          // not percent-encoded: the raw form is enough
        }
      }
      server = `SMTP server ${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}`;
    } catch {
      // nodemailer reports the unusable URL on the first send or check
    }
    this.server = server;
    this.transport = nodemailer.createTransport({
      pool: true,
      url: config.smtpUrl,
      connectionTimeout: config.timeoutMs,
      greetingTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
      dnsTimeout: config.timeoutMs,
      logger: false,
    });
    // A pooled connection that dies while idle reports here; sends report their own errors.
    this.transport.on('error', () => undefined);
  }

  async send(job: DeliveryJob, signal?: AbortSignal): Promise<SendOutcome> {
    const messageId = messageIdFor(job.sourceId);
    try {
      const info = await raceAbort(
        this.transport.sendMail({
          from: job.overrides?.emailFrom ?? this.config.from,
          to: { name: '', address: job.to }, // an object, so a comma in it cannot fan out to several recipients
          subject: job.subject ?? '',
          text: job.text,
          ...(job.html ? { html: job.html } : {}),
          messageId,
        }),
        signal,
      );
      return { ok: true, status: 'sent', provider: 'smtp', providerId: info.messageId || messageId };
    } catch (err) {
      return this.failure(err, signal);
    }
  }

  async check(signal?: AbortSignal): Promise<ProviderCheck> {
    try {
      await raceAbort(this.transport.verify(), signal);
      return { ok: true, detail: `${this.server} accepted the connection${this.secrets.length > 0 ? ' and the credentials' : ''} (no message sent)` };
    } catch (err) {
      if (signal?.aborted || err instanceof AbortedError) return { ok: false, detail: `${this.server}: no answer before the timeout` };
      return { ok: false, detail: `${this.server}: ${this.redact(err instanceof Error ? err.message : String(err))}` };
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  private redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (secret) out = out.split(secret).join('***');
    return out;
  }

  private failure(err: unknown, signal?: AbortSignal): SendFailure {
    if (signal?.aborted || err instanceof AbortedError) {
      return { ok: false, retryable: true, errorCode: 'timeout', error: 'smtp: no answer before the timeout', provider: 'smtp' };
    }
    const e = (err instanceof Error ? err : new Error(String(err))) as SmtpError;
    const error = `smtp: ${this.redact(e.message)}`;
    const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
    if (code !== undefined && code >= 400 && code < 600) {
      return { ok: false, retryable: code < 500, errorCode: `smtp_${code}`, error, provider: 'smtp' };
    }
    switch (e.code) {
      case 'ETIMEDOUT':
        return { ok: false, retryable: true, errorCode: 'timeout', error, provider: 'smtp' };
      case 'EENVELOPE': // an address nodemailer itself refuses: the same job would fail again
      case 'EMESSAGE':
        return { ok: false, retryable: false, errorCode: 'invalid_message', error, provider: 'smtp' };
      case 'EAUTH':
        return { ok: false, retryable: false, errorCode: 'auth', error, provider: 'smtp' };
      default:
        return { ok: false, retryable: true, errorCode: 'network', error, provider: 'smtp' };
    }
  }
}
