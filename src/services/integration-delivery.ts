/**
 * An integration's delivery settings: how its live messages go out (brand, senders, texts, its own
 * provider credentials, its own HTTP gateway), set by the operator.
 *
 * Credentials are write-only: sealed (AES-256-GCM under the server secret) in `settings_json` and
 * never returned; answers say `access_token_set: true` instead. The HTTP gateway's signing secret is
 * the one exception: it is shown once, in the PATCH answer that generated or set it.
 *
 * PATCH semantics (JSON Merge Patch, RFC 7396, per section): an absent member keeps what is stored,
 * `null` removes it (a whole section, or one field of it), a value replaces it. Templates merge down
 * to the locale. Own credentials must be complete after the merge, or absent.
 */
import { createHmac } from 'node:crypto';
import { toIso } from '../domain/clock.js';
import { seal, unseal } from '../domain/codes.js';
import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { parseIdentifier } from '../domain/identifiers.js';
import type { Channel } from '../domain/policy.js';
import { SUPPORTED_LOCALES, validateTemplate } from '../delivery/templates.js';
import { checkPublicUrl, type HostLookup } from '../net/url-guard.js';
import { findIntegration } from '../store/integrations-repo.js';
import { deleteIntegrationDelivery, getIntegrationDelivery, upsertIntegrationDelivery, type IntegrationDeliveryRow } from '../store/integration-delivery-repo.js';
import type { AdminDeps } from './integrations.js';

export const DELIVERY_CHANNELS: readonly Channel[] = ['whatsapp', 'sms', 'email'];

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/** What `settings_json` holds: every section optional, credentials sealed (`seal()` output). */
export interface StoredDeliverySettings {
  brand_name?: string;
  whatsapp?: { template?: string; language?: string; phone_number_id?: string; access_token_sealed?: string; app_secret_sealed?: string };
  sms?: { from?: string; account_sid?: string; auth_token_sealed?: string };
  email?: { from?: string; smtp_url_sealed?: string };
  http?: { url: string; channels: Channel[]; secret_sealed: string };
  templates?: Partial<Record<Channel, Record<string, string>>>;
}

type TemplatesPatch = Partial<Record<Channel, Partial<Record<string, string | null>> | null>>;

/** The PATCH body (the route's schema checks the shapes; this module checks the meaning). */
export interface DeliverySettingsPatch {
  brand_name?: string | null;
  whatsapp?: { template?: string | null; language?: string | null; phone_number_id?: string | null; access_token?: string | null; app_secret?: string | null } | null;
  sms?: { from?: string | null; account_sid?: string | null; auth_token?: string | null } | null;
  email?: { from?: string | null; smtp_url?: string | null } | null;
  /** `secret: null` (or absent on a new section) generates a new one. */
  http?: { url?: string; secret?: string | null; channels?: Channel[] } | null;
  templates?: TemplatesPatch | null;
}

/** What the operator API answers: no credential, only whether each is set. */
export interface DeliverySettingsView {
  integration_id: string;
  brand_name: string | null;
  whatsapp: { template: string | null; language: string | null; phone_number_id: string | null; access_token_set: boolean; app_secret_set: boolean } | null;
  sms: { from: string | null; account_sid: string | null; auth_token_set: boolean } | null;
  email: { from: string | null; smtp_url_set: boolean } | null;
  /** `secret` only in the PATCH answer that generated or set it. */
  http: { url: string; channels: Channel[]; secret_set: boolean; secret?: string } | null;
  templates: Partial<Record<Channel, Record<string, string>>> | null;
  /** When the settings last changed; null: the deployment's defaults apply. */
  updated_at: string | null;
}

/** A credential that could not be unsealed (the server secret changed): the section cannot be used. */
export const UNREADABLE = 'unreadable' as const;

/** The settings with credentials unsealed, for the delivery side (never logged, never answered). */
export interface ResolvedDeliverySettings {
  brandName?: string;
  whatsapp?: {
    template?: string;
    language?: string;
    /** The integration's own Cloud API number, complete; absent when it uses the deployment's. */
    own?: { phoneNumberId: string; accessToken: string; appSecret: string | null } | typeof UNREADABLE;
  };
  sms?: { from?: string; own?: { accountSid: string; authToken: string } | typeof UNREADABLE };
  email?: { from?: string; own?: { smtpUrl: string } | typeof UNREADABLE };
  /** The integration's own HTTP gateway for the listed channels. */
  http?: { url: string; channels: Channel[]; secret: string | typeof UNREADABLE };
  templates?: Partial<Record<Channel, Record<string, string>>>;
}

export interface DeliverySettingsDeps extends AdminDeps {
  /** OTPGATE_WEBHOOK_ALLOW_INSECURE: http and private addresses allowed for the HTTP gateway (development). */
  allowInsecure: boolean;
  /** The resolver the SSRF guard uses (tests); default: the system's. */
  lookup?: HostLookup;
}

/** A PATCH answer, and whether it carries a secret (then it must not be cached). */
export interface DeliverySettingsAnswer {
  view: DeliverySettingsView;
  carriesSecret: boolean;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/** The stored settings of a row (an unreadable text reads as no settings). */
export function parseStoredSettings(json: string | null | undefined): StoredDeliverySettings {
  if (!json) return {};
  try {
    const parsed: unknown = JSON.parse(json);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as StoredDeliverySettings) : {};
  } catch {
    return {};
  }
}

function tryUnseal(serverSecret: Buffer, sealed: string): string | null {
  try {
    return unseal(serverSecret, sealed);
  } catch {
    return null;
  }
}

/** Unseals the credentials of stored settings; own credentials appear only when complete. */
export function resolveDeliverySettings(serverSecret: Buffer, stored: StoredDeliverySettings): ResolvedDeliverySettings {
  const out: ResolvedDeliverySettings = {};
  if (stored.brand_name) out.brandName = stored.brand_name;
  const w = stored.whatsapp;
  if (w) {
    const section: NonNullable<ResolvedDeliverySettings['whatsapp']> = {};
    if (w.template) section.template = w.template;
    if (w.language) section.language = w.language;
    if (w.phone_number_id && w.access_token_sealed) {
      const accessToken = tryUnseal(serverSecret, w.access_token_sealed);
      const appSecret = w.app_secret_sealed ? tryUnseal(serverSecret, w.app_secret_sealed) : null;
      section.own = accessToken === null || (w.app_secret_sealed && appSecret === null) ? UNREADABLE : { phoneNumberId: w.phone_number_id, accessToken, appSecret };
    }
    out.whatsapp = section;
  }
  const s = stored.sms;
  if (s) {
    const section: NonNullable<ResolvedDeliverySettings['sms']> = {};
    if (s.from) section.from = s.from;
    if (s.account_sid && s.auth_token_sealed) {
      const authToken = tryUnseal(serverSecret, s.auth_token_sealed);
      section.own = authToken === null ? UNREADABLE : { accountSid: s.account_sid, authToken };
    }
    out.sms = section;
  }
  const e = stored.email;
  if (e) {
    const section: NonNullable<ResolvedDeliverySettings['email']> = {};
    if (e.from) section.from = e.from;
    if (e.smtp_url_sealed) {
      const smtpUrl = tryUnseal(serverSecret, e.smtp_url_sealed);
      section.own = smtpUrl === null ? UNREADABLE : { smtpUrl };
    }
    out.email = section;
  }
  const h = stored.http;
  if (h?.url && h.secret_sealed && Array.isArray(h.channels)) {
    const secret = tryUnseal(serverSecret, h.secret_sealed);
    out.http = { url: h.url, channels: [...h.channels], secret: secret ?? UNREADABLE };
  }
  if (stored.templates) {
    const templates: Partial<Record<Channel, Record<string, string>>> = {};
    for (const channel of DELIVERY_CHANNELS) {
      const texts = stored.templates[channel];
      if (texts && Object.keys(texts).length > 0) templates[channel] = { ...texts };
    }
    if (Object.keys(templates).length > 0) out.templates = templates;
  }
  return out;
}

/** A short fingerprint of a settings text (the cache's version of an integration's settings). */
export function settingsVersion(json: string): string {
  return createHmac('sha256', 'otpgate:delivery-settings').update(json).digest('base64url').slice(0, 22);
}

function present(integrationId: string, row: IntegrationDeliveryRow | undefined, shownSecret?: string): DeliverySettingsView {
  const stored = parseStoredSettings(row?.settings_json);
  const w = stored.whatsapp;
  const s = stored.sms;
  const e = stored.email;
  const h = stored.http;
  const templates = stored.templates && Object.keys(stored.templates).length > 0 ? stored.templates : null;
  return {
    integration_id: integrationId,
    brand_name: stored.brand_name ?? null,
    whatsapp: w
      ? {
          template: w.template ?? null,
          language: w.language ?? null,
          phone_number_id: w.phone_number_id ?? null,
          access_token_set: Boolean(w.access_token_sealed),
          app_secret_set: Boolean(w.app_secret_sealed),
        }
      : null,
    sms: s ? { from: s.from ?? null, account_sid: s.account_sid ?? null, auth_token_set: Boolean(s.auth_token_sealed) } : null,
    email: e ? { from: e.from ?? null, smtp_url_set: Boolean(e.smtp_url_sealed) } : null,
    http: h ? { url: h.url, channels: [...h.channels], secret_set: Boolean(h.secret_sealed), ...(shownSecret ? { secret: shownSecret } : {}) } : null,
    templates,
    updated_at: row ? toIso(row.updated_at) : null,
  };
}

const notFound = () => fail<never>(problem('not-found', 'No integration has this id.'));

export async function getDeliverySettings(deps: Pick<AdminDeps, 'db'>, integrationId: string): Promise<Result<DeliverySettingsView>> {
  if (!(await findIntegration(deps.db, integrationId))) return notFound();
  return ok(present(integrationId, await getIntegrationDelivery(deps.db, integrationId)));
}

/** Back to the deployment's defaults: the settings row is removed. */
export async function deleteDeliverySettings(deps: Pick<AdminDeps, 'db'>, integrationId: string): Promise<Result<DeliverySettingsView>> {
  if (!(await findIntegration(deps.db, integrationId))) return notFound();
  await deleteIntegrationDelivery(deps.db, integrationId);
  return ok(present(integrationId, undefined));
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const E164 = /^\+[1-9][0-9]{6,14}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
const CONTROL = /[\x00-\x1f\x7f]/; // eslint-disable-line no-control-regex

/** Null when `from` is an E.164 number or a Messaging Service SID, else the reason. */
export function checkSmsFrom(from: string): string | null {
  return E164.test(from) || MESSAGING_SERVICE_SID.test(from) ? null : 'must be an E.164 number (+14155550100) or a Messaging Service SID (MG followed by 32 hex digits)';
}

/** Null when `from` is `address` or `Name <address>`, else the reason. */
export function checkEmailFrom(from: string): string | null {
  if (CONTROL.test(from)) return 'must not contain control characters';
  const named = /^(.*?)\s*<([^<>]*)>$/.exec(from.trim());
  const address = named ? (named[2] ?? '') : from.trim();
  const name = named ? (named[1] ?? '') : '';
  if (/[<>]/.test(name)) return 'must be an address or "Name <address>"';
  const parsed = parseIdentifier(address);
  if (!parsed.ok || parsed.identifier.kind !== 'email') return 'must be an email address or "Name <address>"';
  return null;
}

/** Null when `url` is an smtp:// or smtps:// URL with a host, else the reason. */
export function checkSmtpUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be a URL (smtp://user:pass@host:587 or smtps://user:pass@host:465)';
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') return 'must use smtp:// or smtps://';
  if (parsed.hostname === '') return 'must name a host';
  return null;
}

/** Null when `secret` is a Standard Webhooks secret (`whsec_` + base64 of 24–64 bytes), else the reason. */
export function checkWebhookSecret(secret: string): string | null {
  const m = WEBHOOK_SECRET.exec(secret);
  const bytes = m?.[1] ? Buffer.from(m[1], 'base64').length : 0;
  return bytes >= 24 && bytes <= 64 ? null : 'must be a Standard Webhooks secret: whsec_ followed by the base64 of 24 to 64 random bytes';
}

/** The checks of the PATCH body that a schema cannot express: `{field: [reason]}`. */
function patchErrors(patch: DeliverySettingsPatch): Record<string, string[]> {
  const errors: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  const add = (field: string, reason: string | null): void => {
    if (reason !== null) (errors[field] ??= []).push(reason);
  };
  if (typeof patch.brand_name === 'string') {
    add('brand_name', patch.brand_name.trim() === '' ? 'must not be blank' : CONTROL.test(patch.brand_name) ? 'must not contain control characters' : null);
  }
  if (typeof patch.sms?.from === 'string') add('sms.from', checkSmsFrom(patch.sms.from));
  if (typeof patch.email?.from === 'string') add('email.from', checkEmailFrom(patch.email.from));
  if (typeof patch.email?.smtp_url === 'string') add('email.smtp_url', checkSmtpUrl(patch.email.smtp_url));
  if (typeof patch.http?.secret === 'string') add('http.secret', checkWebhookSecret(patch.http.secret));
  if (patch.http?.channels && new Set(patch.http.channels).size !== patch.http.channels.length) add('http.channels', 'must not list a channel twice');
  if (patch.templates) {
    for (const [channel, texts] of Object.entries(patch.templates)) {
      if (!DELIVERY_CHANNELS.includes(channel as Channel)) {
        add(`templates.${channel}`, `unknown channel: use ${DELIVERY_CHANNELS.join(', ')}`);
        continue;
      }
      if (!texts) continue;
      for (const [locale, text] of Object.entries(texts)) {
        if (!(SUPPORTED_LOCALES as readonly string[]).includes(locale)) {
          add(`templates.${channel}.${locale}`, `unknown locale: use ${SUPPORTED_LOCALES.join(', ')}`);
        } else if (typeof text === 'string') {
          add(`templates.${channel}.${locale}`, validateTemplate(text));
        }
      }
    }
  }
  return errors;
}

/** Own credentials are complete after the merge, or absent: `{field: [reason]}` for what is missing. */
function completenessErrors(next: StoredDeliverySettings): Record<string, string[]> {
  const errors: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  const require = (section: string, fields: Record<string, unknown>, because: string): void => {
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) (errors[`${section}.${name}`] ??= []).push(`required: ${because}`);
    }
  };
  const w = next.whatsapp;
  if (w && (w.phone_number_id !== undefined || w.access_token_sealed !== undefined || w.app_secret_sealed !== undefined)) {
    require('whatsapp', { phone_number_id: w.phone_number_id, access_token: w.access_token_sealed, template: w.template }, "the integration's own WhatsApp number needs phone_number_id, access_token and its approved template");
  }
  const s = next.sms;
  if (s && (s.account_sid !== undefined || s.auth_token_sealed !== undefined)) {
    require('sms', { account_sid: s.account_sid, auth_token: s.auth_token_sealed, from: s.from }, "the integration's own Twilio account needs account_sid, auth_token and a from of that account");
  }
  const e = next.email;
  if (e && e.smtp_url_sealed !== undefined) {
    require('email', { from: e.from }, "the integration's own SMTP server needs a from address");
  }
  return errors;
}

// ---------------------------------------------------------------------------------------------
// PATCH
// ---------------------------------------------------------------------------------------------

/** Drops undefined members; an object left empty becomes undefined. */
function compact<T extends object>(value: T): T | undefined {
  const out = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** `patch` member → the stored value: absent keeps `current`, null removes, a value replaces. */
function field<T>(current: T | undefined, patch: T | null | undefined): T | undefined {
  if (patch === undefined) return current;
  return patch === null ? undefined : patch;
}

/** Same for a credential: a value is sealed. */
function secretField(deps: AdminDeps, current: string | undefined, patch: string | null | undefined): string | undefined {
  if (patch === undefined) return current;
  return patch === null ? undefined : seal(deps.serverSecret, deps.random, patch);
}

function mergeTemplates(current: StoredDeliverySettings['templates'], patch: TemplatesPatch | null | undefined): StoredDeliverySettings['templates'] {
  if (patch === undefined) return current;
  if (patch === null) return undefined;
  const out: Partial<Record<Channel, Record<string, string>>> = {};
  for (const channel of DELIVERY_CHANNELS) {
    const texts = patch[channel];
    let next: Record<string, string> | undefined = current?.[channel] ? { ...current[channel] } : undefined;
    if (texts === null) next = undefined;
    else if (texts) {
      next ??= {};
      for (const [locale, text] of Object.entries(texts)) {
        if (text === null) delete next[locale];
        else if (text !== undefined) next[locale] = text;
      }
    }
    if (next && Object.keys(next).length > 0) out[channel] = next;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A new Standard Webhooks secret (32 random bytes). */
export function generateWebhookSecret(deps: Pick<AdminDeps, 'random'>): string {
  return `whsec_${deps.random.bytes(32).toString('base64')}`;
}

/** The merged settings, what the merge found missing (the HTTP gateway's url or channels), and a secret to show once. */
function merge(deps: AdminDeps, stored: StoredDeliverySettings, patch: DeliverySettingsPatch): { next: StoredDeliverySettings; missing: Record<string, string[]>; shownSecret?: string } {
  const next: StoredDeliverySettings = {};
  const brand = field(stored.brand_name, patch.brand_name);
  if (brand !== undefined) next.brand_name = brand.trim();

  const w = patch.whatsapp === null ? undefined : stored.whatsapp;
  const wp = patch.whatsapp ?? {};
  const whatsapp = compact({
    template: field(w?.template, wp.template),
    language: field(w?.language, wp.language),
    phone_number_id: field(w?.phone_number_id, wp.phone_number_id),
    access_token_sealed: secretField(deps, w?.access_token_sealed, wp.access_token),
    app_secret_sealed: secretField(deps, w?.app_secret_sealed, wp.app_secret),
  });
  if (whatsapp) next.whatsapp = whatsapp;

  const s = patch.sms === null ? undefined : stored.sms;
  const sp = patch.sms ?? {};
  const sms = compact({
    from: field(s?.from, sp.from),
    account_sid: field(s?.account_sid, sp.account_sid),
    auth_token_sealed: secretField(deps, s?.auth_token_sealed, sp.auth_token),
  });
  if (sms) next.sms = sms;

  const e = patch.email === null ? undefined : stored.email;
  const ep = patch.email ?? {};
  const email = compact({ from: field(e?.from, ep.from), smtp_url_sealed: secretField(deps, e?.smtp_url_sealed, ep.smtp_url) });
  if (email) next.email = email;

  let shownSecret: string | undefined;
  const missing: Record<string, string[]> = {};
  if (patch.http !== null && (stored.http || patch.http)) {
    const h = stored.http;
    const hp = patch.http;
    const url = hp?.url ?? h?.url;
    const channels = hp?.channels ?? h?.channels;
    let secretSealed = hp?.secret === null ? undefined : h?.secret_sealed;
    if (typeof hp?.secret === 'string') {
      shownSecret = hp.secret;
      secretSealed = seal(deps.serverSecret, deps.random, hp.secret);
    } else if (secretSealed === undefined) {
      shownSecret = generateWebhookSecret(deps);
      secretSealed = seal(deps.serverSecret, deps.random, shownSecret);
    }
    const because = 'required: the HTTP gateway needs a url and the channels it carries';
    if (url === undefined) missing['http.url'] = [because];
    if (channels === undefined) missing['http.channels'] = [because];
    if (url !== undefined && channels !== undefined) next.http = { url, channels: [...channels], secret_sealed: secretSealed };
  }

  const templates = mergeTemplates(stored.templates, patch.templates);
  if (templates) next.templates = templates;
  return { next, missing, ...(shownSecret === undefined ? {} : { shownSecret }) };
}

/**
 * Merges `patch` into the integration's settings. 400 `validation-error` with `errors{}` for a bad
 * value or incomplete credentials; 422 `invalid-webhook-url` (detail: the SSRF guard's reason) for
 * an HTTP gateway URL that is not allowed; 404 for an unknown integration.
 */
export async function patchDeliverySettings(deps: DeliverySettingsDeps, integrationId: string, patch: DeliverySettingsPatch): Promise<Result<DeliverySettingsAnswer>> {
  if (!(await findIntegration(deps.db, integrationId))) return notFound();

  const errors = patchErrors(patch);
  if (Object.keys(errors).length > 0) return fail(validationProblem('Some delivery settings are not valid.', { ...errors }));

  if (typeof patch.http?.url === 'string') {
    const check = await checkPublicUrl(patch.http.url, { allowInsecure: deps.allowInsecure, ...(deps.lookup ? { lookup: deps.lookup } : {}) });
    if (!check.ok) return fail(problem('invalid-webhook-url', check.reason, { errors: { 'http.url': [check.reason] } }));
  }

  const current = await getIntegrationDelivery(deps.db, integrationId);
  const merged = merge(deps, parseStoredSettings(current?.settings_json), patch);
  const { next, shownSecret } = merged;
  const missing = { ...merged.missing, ...completenessErrors(next) };
  if (Object.keys(missing).length > 0) {
    const fields = Object.keys(missing).join(', ');
    return fail(validationProblem(`The integration's own delivery settings are incomplete: set ${fields}.`, { ...missing }));
  }

  if (Object.keys(next).length === 0) {
    // Everything cleared: the same as DELETE (the deployment's defaults, `updated_at: null`).
    await deleteIntegrationDelivery(deps.db, integrationId);
    return ok({ view: present(integrationId, undefined), carriesSecret: false });
  }
  const row: IntegrationDeliveryRow = { integration_id: integrationId, settings_json: JSON.stringify(next), updated_at: deps.clock.now() };
  await upsertIntegrationDelivery(deps.db, row);
  return ok({ view: present(integrationId, row, shownSecret), carriesSecret: shownSecret !== undefined });
}
