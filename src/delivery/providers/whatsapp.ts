import type { Channel } from '../../domain/policy.js';
import type { DeliveryJob, SendFailure, SendOutcome } from '../channel.js';
import { readBodyText } from './http-client.js';
import { createHttpClient } from '../../net/http-thread.js';
import { httpFailure, transportFailure, type Provider, type ProviderCheck } from './provider.js';

/** The WhatsApp Cloud API settings (Meta's Graph API). */
export interface WhatsAppConfig {
  /** A system-user access token with `whatsapp_business_messaging`. */
  token: string;
  /** The sending business phone number's id (not the number itself). */
  phoneNumberId: string;
  /** The approved authentication template's name. */
  template: string;
  /** The template's language code (`en_US`, `pt_BR`); else derived from the job's locale. */
  language?: string | null;
  /** The Graph API root with its version, e.g. `https://graph.facebook.com/v21.0`. */
  baseUrl: string;
}

/**
 * Graph / Cloud API error codes that mean "throttled or temporarily unable": the same request may succeed
 * later. 4 application request limit, 80007 WABA rate limit, 130429 throughput limit, 131048 spam rate limit,
 * 131056 pair rate limit, 1 unknown API error, 2 API service unavailable, 131000 something went wrong,
 * 131016 service unavailable.
 */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([4, 80007, 130429, 131048, 131056, 1, 2, 131000, 131016]);

const LANGUAGES: Readonly<Record<string, string>> = { en: 'en', 'pt-BR': 'pt_BR', es: 'es', id: 'id', hi: 'hi' };

/** A BCP 47 tag → a WhatsApp template language code (`pt-BR` → `pt_BR`). */
export function whatsAppLanguage(locale: string): string {
  return LANGUAGES[locale] ?? locale.replace(/-/g, '_');
}

/** Meta's error object (`{ error: {...} }`) as far as it can be read. */
interface GraphError {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  details?: string;
}

function readGraphError(body: unknown): GraphError | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const e = body.error;
  const out: GraphError = {};
  if (typeof e.message === 'string') out.message = e.message;
  if (typeof e.type === 'string') out.type = e.type;
  if (typeof e.code === 'number' && Number.isFinite(e.code)) out.code = e.code;
  else if (typeof e.code === 'string' && /^\d+$/.test(e.code)) out.code = Number(e.code);
  if (typeof e.error_subcode === 'number') out.error_subcode = e.error_subcode;
  if (isRecord(e.error_data) && typeof e.error_data.details === 'string') out.details = e.error_data.details;
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `value` or undefined when it is absent or empty. */
function nonEmpty(value: string | null | undefined): string | undefined {
  return value ? value : undefined;
}

export class WhatsAppProvider implements Provider {
  readonly name = 'whatsapp' as const;
  readonly channels: readonly Channel[] = ['whatsapp'];
  private readonly root: string;
  /** Keep-alive connections to the Graph API, reused across calls. */
  private readonly http = createHttpClient();

  constructor(private readonly config: WhatsAppConfig) {
    this.root = `${config.baseUrl.replace(/\/+$/, '')}/${encodeURIComponent(config.phoneNumberId)}`;
  }

  readonly enforcesTimeout = true;

  async send(job: DeliveryJob, signal?: AbortSignal, timeoutMs?: number): Promise<SendOutcome> {
    const template = nonEmpty(job.overrides?.whatsappTemplate) ?? this.config.template;
    const language = nonEmpty(job.overrides?.whatsappLanguage) ?? nonEmpty(this.config.language) ?? whatsAppLanguage(job.locale);
    const body = {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: job.to,
      type: 'template',
      template: {
        name: template,
        language: { code: language },
        components: [
          { type: 'body', parameters: [{ type: 'text', text: job.code }] },
          // Authentication templates: the copy-code (or one-tap) button is a URL button whose parameter is the code.
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: job.code }] },
        ],
      },
    };

    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const res = await this.http.request(`${this.root}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.config.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      });
      status = res.status;
      retryAfter = res.headers['retry-after'] ?? null;
      text = await readBodyText(res);
    } catch (err) {
      return this.scrub(transportFailure('whatsapp', err, signal), job.code);
    }

    const parsed = parseJson(text);
    if (status >= 200 && status < 300) {
      // Meta accepted the message: sending again would deliver a second code, so a body without an id is still a success.
      const messages = isRecord(parsed) && Array.isArray(parsed.messages) ? (parsed.messages as unknown[]) : [];
      const first = messages[0];
      const providerId = isRecord(first) && typeof first.id === 'string' ? first.id : undefined;
      return providerId === undefined ? { ok: true, status: 'sent', provider: 'whatsapp' } : { ok: true, status: 'sent', provider: 'whatsapp', providerId };
    }

    const error = readGraphError(parsed);
    const failure = httpFailure('whatsapp', status, {
      errorCode: error?.code !== undefined ? String(error.code) : undefined,
      message: error ? describe(error) : undefined,
      retryAfter,
    });
    if (error?.code !== undefined && RETRYABLE_CODES.has(error.code)) failure.retryable = true;
    return this.scrub(failure, job.code);
  }

  async check(signal?: AbortSignal): Promise<ProviderCheck> {
    let status: number;
    let text: string;
    try {
      const res = await this.http.request(`${this.root}?fields=display_phone_number,verified_name`, {
        method: 'GET',
        headers: { authorization: `Bearer ${this.config.token}`, accept: 'application/json' },
        signal,
      });
      status = res.status;
      text = await readBodyText(res);
    } catch (err) {
      return { ok: false, detail: this.scrubText(transportFailure('whatsapp', err, signal).error) };
    }
    const parsed = parseJson(text);
    if (status >= 200 && status < 300) {
      const number = isRecord(parsed) && typeof parsed.display_phone_number === 'string' ? parsed.display_phone_number : '?';
      const name = isRecord(parsed) && typeof parsed.verified_name === 'string' ? parsed.verified_name : '?';
      return { ok: true, detail: `phone number ${number} (${name})` };
    }
    const error = readGraphError(parsed);
    const why = error ? `: ${describe(error)}${error.code !== undefined ? ` (code ${error.code})` : ''}` : '';
    return { ok: false, detail: this.scrubText(`whatsapp: HTTP ${status}${why}`) };
  }

  /** Closes the keep-alive connections to the Graph API. */
  async close(): Promise<void> {
    await this.http.close();
  }

  /** Never let the token or the code into an error text, whatever the provider echoed back. */
  private scrub(failure: SendFailure, code: string): SendFailure {
    failure.error = this.scrubText(failure.error, code);
    return failure;
  }

  private scrubText(text: string, code?: string): string {
    let out = text;
    for (const secret of [this.config.token, code]) {
      if (secret) out = out.split(secret).join('[redacted]');
    }
    return out;
  }
}

function describe(error: GraphError): string {
  const parts: string[] = [];
  if (error.message) parts.push(error.message);
  if (error.details && error.details !== error.message) parts.push(error.details);
  return parts.join(' — ');
}
