/**
 * Code message templates per channel and locale, operator overrides and their validation.
 *
 * Pure module: no I/O, no clock. Every built-in text starts with the code (so a phone offers to
 * copy it and the message preview shows it), then names the brand, the minutes to expiry and
 * asks not to share the code.
 */

export const SUPPORTED_LOCALES = ['en', 'pt-BR', 'es', 'id', 'hi'] as const;
export type Locale = (typeof SUPPORTED_LOCALES)[number];

export type TemplateChannel = 'whatsapp' | 'sms' | 'email';

export interface RenderCodeMessageInput {
  code: string;
  brand: string;
  ttlS: number;
  locale: Locale;
  channel: TemplateChannel;
  /** SMS only: host the code is bound to; adds the WebOTP line `@<appDomain> #<code>` last. */
  appDomain?: string | null;
  /** SMS only: the 11-character app hash Android's SMS Retriever API looks for, on its own line. */
  androidAppHash?: string | null;
  /** Operator text with `{code}`, `{brand}` and `{minutes}` placeholders; replaces the body. */
  override?: string | null;
}

export interface RenderedMessage {
  /** Email only. */
  subject: string | null;
  text: string;
  /** Email only: a self-contained HTML document. */
  html: string | null;
}

interface Texts {
  /** The code, then the brand; no final punctuation (it doubles as the email subject). */
  headline: (code: string, brand: string) => string;
  /** The sentence terminator of the language. */
  stop: string;
  expiry: (minutes: number) => string;
  doNotShare: string;
}

const TEXTS: Readonly<Record<Locale, Texts>> = {
  en: {
    headline: (code, brand) => `${code} is your ${brand} verification code`,
    stop: '.',
    expiry: (m) => `It expires in ${m} ${m === 1 ? 'minute' : 'minutes'}.`,
    doNotShare: 'Do not share it with anyone.',
  },
  'pt-BR': {
    // Brand right after the noun: "do"/"da" would need the brand's gender.
    headline: (code, brand) => `${code} é o seu código de verificação ${brand}`,
    stop: '.',
    expiry: (m) => `Ele expira em ${m} ${m === 1 ? 'minuto' : 'minutos'}.`,
    doNotShare: 'Não o compartilhe com ninguém.',
  },
  es: {
    // "Expira" rather than "caduca" (Spain) or "vence" (Americas): understood everywhere.
    headline: (code, brand) => `${code} es tu código de verificación de ${brand}`,
    stop: '.',
    expiry: (m) => `Expira en ${m} ${m === 1 ? 'minuto' : 'minutos'}.`,
    doNotShare: 'No lo compartas con nadie.',
  },
  id: {
    // Indonesian nouns do not inflect for number: "1 menit", "5 menit".
    headline: (code, brand) => `${code} adalah kode verifikasi ${brand} Anda`,
    stop: '.',
    expiry: (m) => `Kode ini berlaku selama ${m} menit.`,
    doNotShare: 'Jangan berikan kode ini kepada siapa pun.',
  },
  hi: {
    // "मिनट" is the same in the singular and the plural.
    headline: (code, brand) => `${code} आपका ${brand} सत्यापन कोड है`,
    stop: '।',
    expiry: (m) => `यह ${m} मिनट में समाप्त हो जाएगा।`,
    doNotShare: 'इसे किसी के साथ साझा न करें।',
  },
};

const LOCALE_BY_LOWERCASE: ReadonlyMap<string, Locale> = new Map(SUPPORTED_LOCALES.map((l) => [l.toLowerCase(), l]));

/** Language subtag → locale. `in` is the withdrawn ISO 639 code for Indonesian, still sent by old Java/Android. */
const LOCALE_BY_LANGUAGE: ReadonlyMap<string, Locale> = new Map([
  ['en', 'en'],
  ['pt', 'pt-BR'],
  ['es', 'es'],
  ['id', 'id'],
  ['in', 'id'],
  ['hi', 'hi'],
]);

const LUSOPHONE = ['BR', 'PT', 'AO', 'MZ', 'CV', 'GW', 'ST', 'TL'];
// Spain, Equatorial Guinea and the Spanish-speaking Americas (Puerto Rico included).
const HISPANOPHONE = [
  'ES', 'GQ', 'MX', 'GT', 'HN', 'SV', 'NI', 'CR', 'PA', 'CU', 'DO', 'PR',
  'CO', 'VE', 'EC', 'PE', 'BO', 'CL', 'AR', 'PY', 'UY',
];
const LOCALE_BY_COUNTRY: ReadonlyMap<string, Locale> = new Map<string, Locale>([
  ...LUSOPHONE.map((c): [string, Locale] => [c, 'pt-BR']),
  ...HISPANOPHONE.map((c): [string, Locale] => [c, 'es']),
  ['ID', 'id'],
  ['IN', 'hi'],
]);

/**
 * The locale to write a message in: the requested BCP 47 tag when supported (case-insensitive,
 * `_` accepted for `-`; a tag of a supported language counts, e.g. `pt-PT` → `pt-BR`, `es-MX` → `es`),
 * else the language of the phone's country (ISO 3166-1 alpha-2), else `en`.
 */
export function resolveLocale(requested: string | null, country: string | null): Locale {
  if (typeof requested === 'string') {
    const tag = requested.trim().replace(/_/g, '-').toLowerCase();
    const exact = LOCALE_BY_LOWERCASE.get(tag);
    if (exact) return exact;
    const byLanguage = LOCALE_BY_LANGUAGE.get(tag.split('-')[0] ?? '');
    if (byLanguage) return byLanguage;
  }
  if (typeof country === 'string') {
    const byCountry = LOCALE_BY_COUNTRY.get(country.trim().toUpperCase());
    if (byCountry) return byCountry;
  }
  return 'en';
}

const PLACEHOLDER = /\{([^{}]*)\}/g;
const KNOWN_PLACEHOLDERS: ReadonlySet<string> = new Set(['code', 'brand', 'minutes']);
const MAX_TEMPLATE_LENGTH = 1000;

/**
 * Checks an operator's override text: null when acceptable, else the reason. It must be 1–1,000
 * characters, contain `{code}`, and have no `{…}` other than `{code}`, `{brand}` and `{minutes}`
 * (so typos such as `{Code}` or `{ code }` are refused; an unpaired brace is plain text).
 */
export function validateTemplate(text: string): string | null {
  if (typeof text !== 'string') return 'the template must be a string';
  const length = [...text].length;
  if (length < 1) return 'the template is empty';
  if (length > MAX_TEMPLATE_LENGTH) return `the template is longer than ${MAX_TEMPLATE_LENGTH} characters`;
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (!KNOWN_PLACEHOLDERS.has(match[1] ?? '')) {
      return `unknown placeholder ${match[0]}: only {code}, {brand} and {minutes} are allowed`;
    }
  }
  if (!text.includes('{code}')) return 'the template must contain {code}';
  return null;
}

/** One pass, so a brand that itself contains `{code}` is not substituted again. */
function fillTemplate(template: string, values: { code: string; brand: string; minutes: number }): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (name === 'code') return values.code;
    if (name === 'brand') return values.brand;
    if (name === 'minutes') return String(values.minutes);
    return whole;
  });
}

// Chrome's parser accepts only these characters in the host of the WebOTP line; IDNs go in punycode.
const APP_DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
// The hash is the start of a base64 SHA-256 (e.g. `FA+9qCX9VSu`).
const ANDROID_APP_HASH = /^[A-Za-z0-9+/]{11}$/;

/** Whether `domain` can be the host of a WebOTP line (a bare host name: no scheme, port or path). */
export function isValidAppDomain(domain: string): boolean {
  return typeof domain === 'string' && APP_DOMAIN.test(domain);
}

/** Whether `hash` has the shape of an SMS Retriever app hash (11 base64 characters). */
export function isValidAndroidAppHash(hash: string): boolean {
  return typeof hash === 'string' && ANDROID_APP_HASH.test(hash);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch] ?? ch);
}

/** Escaped text as paragraphs (blank lines) with line breaks. */
function paragraphs(text: string): string {
  return text
    .split(/\r?\n\s*\r?\n/)
    .map((para) => `<p style="margin:0 0 16px">${escapeHtml(para).replace(/\r?\n/g, '<br>')}</p>`)
    .join('\n');
}

function htmlDocument(locale: Locale, title: string, content: string): string {
  return [
    '<!DOCTYPE html>',
    `<html lang="${locale}">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    '</head>',
    '<body style="margin:0;padding:24px;background:#f4f4f5;font-family:Arial,Helvetica,sans-serif;color:#18181b">',
    '<div style="max-width:480px;margin:0 auto;padding:24px;background:#ffffff;border-radius:8px;font-size:16px;line-height:1.5">',
    content,
    '</div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * Renders a code message. The built-in text is in `locale` (English for an unknown one); a valid
 * `override` (see {@link validateTemplate}) replaces the body — an invalid one is ignored, so a
 * message always carries the code. Email gets a subject carrying the code and an HTML part;
 * WhatsApp and SMS get neither. SMS only: `androidAppHash` adds the hash on its own line and
 * `appDomain` the WebOTP line `@<appDomain> #<code>`, which always stays the last line.
 * Throws a TypeError for a non-finite `ttlS` and a RangeError for a malformed `appDomain` or
 * `androidAppHash` (configuration errors: check them with {@link isValidAppDomain} and
 * {@link isValidAndroidAppHash} when they are set).
 */
export function renderCodeMessage(input: RenderCodeMessageInput): RenderedMessage {
  const { code, brand, ttlS, channel } = input;
  if (!Number.isFinite(ttlS)) throw new TypeError(`ttlS must be a finite number, got ${String(ttlS)}`);
  const locale: Locale = Object.hasOwn(TEXTS, input.locale) ? input.locale : 'en';
  const texts = TEXTS[locale];
  const minutes = Math.max(1, Math.ceil(ttlS / 60));
  const override = input.override != null && validateTemplate(input.override) === null ? input.override : null;

  const headline = texts.headline(code, brand);
  const body = override !== null
    ? fillTemplate(override, { code, brand, minutes })
    : `${headline}${texts.stop} ${texts.expiry(minutes)}\n${texts.doNotShare}`;

  if (channel === 'email') {
    const content = override !== null
      ? paragraphs(body)
      : [
          `<p style="margin:0 0 16px">${escapeHtml(headline)}${texts.stop}</p>`,
          `<p style="margin:0 0 16px;font-family:'Courier New',Courier,monospace;font-size:32px;font-weight:bold;letter-spacing:6px">${escapeHtml(code)}</p>`,
          `<p style="margin:0 0 16px">${escapeHtml(texts.expiry(minutes))}</p>`,
          `<p style="margin:0;color:#52525b">${escapeHtml(texts.doNotShare)}</p>`,
        ].join('\n');
    return { subject: headline, text: body, html: htmlDocument(locale, headline, content) };
  }

  const lines = [body];
  if (channel === 'sms') {
    const { androidAppHash, appDomain } = input;
    if (androidAppHash != null && androidAppHash !== '') {
      if (!isValidAndroidAppHash(androidAppHash)) throw new RangeError('androidAppHash must be 11 base64 characters');
      lines.push(androidAppHash);
    }
    if (appDomain != null && appDomain !== '') {
      if (!isValidAppDomain(appDomain)) throw new RangeError('appDomain must be a bare host name (no scheme, port or path)');
      lines.push(`@${appDomain} #${code}`);
    }
  }
  return { subject: null, text: lines.join('\n'), html: null };
}
