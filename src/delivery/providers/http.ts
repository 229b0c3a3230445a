/**
 * The generic HTTP provider: hands each message to an operator's own endpoint (an in-house SMS
 * gateway, a queue) as a JSON POST signed like otpgate's outgoing webhooks (Standard Webhooks).
 *
 * `webhook-id` and `Idempotency-Key` are the outbox id, the same on every retry of one message, so
 * the receiver can deduplicate. The request goes through the SSRF guard (`postJson`): unless
 * insecure URLs are allowed, a non-public destination is refused when connecting.
 */
import { Webhook } from 'standardwebhooks';
import type { Channel } from '../../domain/policy.js';
import { BlockedAddressError, checkPublicUrl, checkUrlShape, postJson } from '../../net/url-guard.js';
import type { DeliveryJob, SendOutcome } from '../channel.js';
import { httpFailure, transportFailure, type Provider, type ProviderCheck } from './provider.js';

export interface HttpProviderConfig {
  url: string;
  /** A Standard Webhooks secret (`whsec_…`, base64 after the prefix). */
  secret: string;
  channels: Channel[];
  /** http and private addresses allowed (development only). */
  allowInsecure: boolean;
}

/** The body the endpoint receives: exactly these fields. */
export interface HttpProviderPayload {
  to: string;
  channel: Channel;
  code: string;
  text: string;
  locale: string;
  verification_id: string;
}

const MAX_ERROR_TEXT = 200;

/** A short reason from an error body (`error`, `message`, `detail`, `title`), never echoing the code. */
function answerMessage(body: string, code: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  for (const key of ['error', 'message', 'detail', 'title']) {
    const value = record[key];
    if (typeof value === 'string' && value.trim() !== '') {
      const text = value.trim().slice(0, MAX_ERROR_TEXT);
      return code && text.includes(code) ? text.split(code).join('***') : text;
    }
  }
  return undefined;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export class HttpProvider implements Provider {
  readonly name = 'http' as const;
  readonly channels: readonly Channel[];
  private readonly webhook: Webhook;

  constructor(private readonly config: HttpProviderConfig) {
    this.channels = [...config.channels];
    this.webhook = new Webhook(config.secret); // throws on a secret that is not base64
  }

  async send(job: DeliveryJob, signal?: AbortSignal): Promise<SendOutcome> {
    // The guard's checks that need no DNS (scheme, credentials); the address is checked when connecting.
    const shape = checkUrlShape(this.config.url, this.config.allowInsecure);
    if (!shape.ok) return { ok: false, retryable: false, errorCode: 'ssrf_blocked', error: `http: the endpoint URL is not allowed: ${shape.reason}`, provider: 'http' };
    if (signal?.aborted) return transportFailure('http', new Error('aborted'), signal);

    const payload: HttpProviderPayload = {
      to: job.to,
      channel: job.channel,
      code: job.code,
      text: job.text,
      locale: job.locale,
      verification_id: job.verificationId,
    };
    const body = JSON.stringify(payload);
    const timestamp = new Date();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'webhook-id': job.sourceId,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': this.webhook.sign(job.sourceId, timestamp, body),
      'idempotency-key': job.sourceId,
    };

    let response;
    try {
      response = await postJson(this.config.url, body, headers, { allowInsecure: this.config.allowInsecure, signal });
    } catch (err) {
      if (err instanceof BlockedAddressError) {
        return { ok: false, retryable: false, errorCode: 'ssrf_blocked', error: `http: the endpoint's address is not allowed: ${err.message}`, provider: 'http' };
      }
      return transportFailure('http', err, signal);
    }

    const { status } = response;
    if (status >= 200 && status < 300) {
      let providerId = job.sourceId;
      try {
        const parsed: unknown = JSON.parse(response.body);
        if (typeof parsed === 'object' && parsed !== null) {
          const id = (parsed as Record<string, unknown>).id;
          if (typeof id === 'string' && id !== '') providerId = id;
        }
      } catch {
        // an empty or non-JSON answer is fine
      }
      return { ok: true, status: 'sent', provider: 'http', providerId };
    }

    const failure = httpFailure('http', status, {
      message: status >= 300 && status < 400 ? 'redirects are not followed' : answerMessage(response.body, job.code),
      retryAfter: firstHeader(response.headers['retry-after']),
    });
    if (status === 408) failure.retryable = true; // the endpoint timed out waiting: worth another try
    return failure;
  }

  async check(signal?: AbortSignal): Promise<ProviderCheck> {
    if (signal?.aborted) return { ok: false, detail: 'no answer before the timeout' };
    const result = await checkPublicUrl(this.config.url, { allowInsecure: this.config.allowInsecure });
    if (!result.ok) return { ok: false, detail: result.reason };
    const where = result.url.origin;
    return {
      ok: true,
      detail: this.config.allowInsecure
        ? `${where} resolves (insecure URLs allowed: address rules not applied); a generic endpoint has no read-only call, so nothing was sent`
        : `${where} uses https and resolves to public addresses only; a generic endpoint has no read-only call, so nothing was sent`,
    };
  }
}
