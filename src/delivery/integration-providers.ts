/**
 * Per-integration live delivery: an integration's delivery settings (see
 * services/integration-delivery.ts) turned into what the delivery side needs — its customisation
 * (brand, senders, texts), the adapter for each channel, and the secrets that verify status callbacks.
 *
 * The adapter for a channel is, in order: the integration's own provider when it has complete
 * credentials for that channel (built with the deployment's provider classes, behind the same
 * resilience policies); else the integration's own HTTP gateway when it lists the channel; else the
 * deployment's provider. Own credentials that cannot be unsealed (the server secret changed) leave
 * the channel without an adapter rather than sending through someone else's account.
 *
 * Settings are cached per integration for `config.deliverySettingsCacheMs`, and read again after
 * `invalidate()`. Providers are kept per settings version: a provider whose inputs did not change
 * (only the brand or a text did) is kept with its circuit and its connections; a replaced one is
 * closed once the calls that may still be using it have had time to end.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Clock } from '../domain/clock.js';
import type { Channel } from '../domain/policy.js';
import {
  DELIVERY_CHANNELS,
  parseStoredSettings,
  resolveDeliverySettings,
  settingsVersion,
  UNREADABLE,
  type ResolvedDeliverySettings,
} from '../services/integration-delivery.js';
import { findIntegrationDeliveryByPhoneNumberId, getIntegrationDelivery } from '../store/integration-delivery-repo.js';
import type { Executor } from '../store/tables.js';
import type { ChannelAdapter, ChannelRegistry, SenderOverrides } from './channel.js';
import type { DeliveryCustomisation } from './deliver-message.js';
import { CALLBACK_PATHS, type ProviderDirectory } from './providers/directory.js';
import { HttpProvider } from './providers/http.js';
import type { Provider } from './providers/provider.js';
import { SmtpProvider } from './providers/smtp.js';
import { TwilioProvider } from './providers/twilio.js';
import { WhatsAppProvider } from './providers/whatsapp.js';
import { ResilientProvider, type AttemptObservation } from './resilience.js';

const DEFAULT_WHATSAPP_BASE_URL = 'https://graph.facebook.com/v21.0';
const DEFAULT_TWILIO_BASE_URL = 'https://api.twilio.com';
const MAX_CACHED_PHONE_NUMBERS = 1_000;

export interface IntegrationProvidersDeps {
  db: Executor;
  serverSecret: Buffer;
  directory: ProviderDirectory;
  config: Pick<Config, 'publicUrl' | 'whatsapp' | 'twilio' | 'webhookAllowInsecure' | 'providerCalls' | 'deliverySettingsCacheMs'>;
  clock: Clock;
  /** The deployment's adapters by channel (default: `directory.registry`; tests put doubles here). */
  registry?: ChannelRegistry;
  /** Every call of an integration's own provider, for the metrics (as the directory's). */
  observe?: (attempt: AttemptObservation) => void;
  /** Cache lifetime (default `config.deliverySettingsCacheMs`). */
  cacheMs?: number;
  /** How long a replaced provider stays open for the calls still using it (default: a whole attempt's time budget). */
  closeGraceMs?: number;
  /** The Graph API and Twilio roots for own providers (default: the deployment's, else the public ones). */
  baseUrls?: { whatsapp?: string; twilio?: string };
}

/** One provider built from an integration's settings; `key` fingerprints its inputs. */
interface BuiltProvider {
  key: string;
  adapter: ResilientProvider;
}

interface Entry {
  version: string | null;
  readAt: number;
  stale: boolean;
  settings: ResolvedDeliverySettings | null;
  customisation: DeliveryCustomisation | null;
  /** The integration's own adapter per channel (own provider or own HTTP gateway); `null`: none may be used. */
  own: Partial<Record<Channel, ResilientProvider | null>>;
  built: BuiltProvider[];
  /** The live channels it can send on, once asked. */
  channels?: readonly Channel[];
}

function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url');
}

export class IntegrationProviders {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private readonly retiring = new Set<ResilientProvider>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly appSecrets = new Map<string, { at: number; secrets: string[] }>();
  private readonly cacheMs: number;
  private readonly closeGraceMs: number;
  /** Bumped by invalidate(): a read that started before is not trusted past its own caller. */
  private generation = 0;

  constructor(private readonly deps: IntegrationProvidersDeps) {
    this.cacheMs = deps.cacheMs ?? deps.config.deliverySettingsCacheMs;
    const calls = deps.config.providerCalls;
    this.closeGraceMs = deps.closeGraceMs ?? calls.timeoutMs * (calls.retries + 1) + calls.backoffMs * 2 ** calls.retries;
  }

  /** What the operator set for the integration's messages (brand, senders, texts), or null. */
  async customisation(integrationId: string): Promise<DeliveryCustomisation | null> {
    return (await this.entry(integrationId)).customisation;
  }

  /** The adapter that carries `channel` for the integration, or undefined when none may. */
  async adapter(integrationId: string, channel: Channel): Promise<ChannelAdapter | undefined> {
    return this.pick(await this.entry(integrationId), channel);
  }

  /** The live channels the integration can send on (its own providers and the deployment's). */
  async channels(integrationId: string): Promise<readonly Channel[]> {
    const entry = await this.entry(integrationId);
    // Kept on the entry: it is read on every live send, and changes only with the settings (a new entry).
    entry.channels ??= DELIVERY_CHANNELS.filter((c) => this.pick(entry, c) !== undefined);
    return entry.channels;
  }

  /**
   * The auth token that signs Twilio callbacks for the integration (`?integration=` of the callback
   * URL): its own account's, else the deployment's; null when there is none (or it cannot be read).
   */
  async twilioAuthToken(integrationId: string | null): Promise<string | null> {
    if (integrationId !== null) {
      const own = (await this.entry(integrationId)).settings?.sms?.own;
      if (own === UNREADABLE) return null;
      if (own) return own.authToken;
    }
    return this.deps.config.twilio?.authToken ?? null;
  }

  /**
   * The app secrets that may sign a WhatsApp webhook about `phoneNumberId`: the deployment's, then
   * those of the integrations whose own number it is.
   */
  async whatsAppAppSecrets(phoneNumberId: string | null): Promise<string[]> {
    const secrets: string[] = [];
    const deployment = this.deps.config.whatsapp?.appSecret;
    if (deployment) secrets.push(deployment);
    if (phoneNumberId === null || phoneNumberId === '') return secrets;
    const now = this.deps.clock.now();
    let cached = this.appSecrets.get(phoneNumberId);
    if (!cached || now - cached.at >= this.cacheMs) {
      cached = { at: now, secrets: await this.readAppSecrets(phoneNumberId) };
      if (this.appSecrets.size >= MAX_CACHED_PHONE_NUMBERS) this.appSecrets.clear(); // the id comes from an unsigned body
      this.appSecrets.set(phoneNumberId, cached);
    }
    for (const s of cached.secrets) if (!secrets.includes(s)) secrets.push(s);
    return secrets;
  }

  /** Reads the integration's settings again on next use (all integrations' without an id). */
  invalidate(integrationId?: string): void {
    this.generation += 1;
    if (integrationId === undefined) {
      for (const entry of this.entries.values()) entry.stale = true;
    } else {
      const entry = this.entries.get(integrationId);
      if (entry) entry.stale = true;
    }
    // A read already under way may predate the change: the next caller starts a new one.
    if (integrationId === undefined) this.loading.clear();
    else this.loading.delete(integrationId);
    this.appSecrets.clear();
  }

  /** Closes every provider built for an integration. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const all = new Set<ResilientProvider>(this.retiring);
    for (const entry of this.entries.values()) for (const b of entry.built) all.add(b.adapter);
    this.entries.clear();
    this.loading.clear();
    this.retiring.clear();
    this.appSecrets.clear();
    await Promise.allSettled([...all].map((p) => p.provider.close?.()));
  }

  // -------------------------------------------------------------------------------------------

  private pick(entry: Entry, channel: Channel): ChannelAdapter | undefined {
    const own = entry.own[channel];
    if (own === null) return undefined;
    return own ?? (this.deps.registry ?? this.deps.directory.registry)[channel];
  }

  private entry(integrationId: string): Promise<Entry> {
    const cached = this.entries.get(integrationId);
    if (cached && !cached.stale && this.deps.clock.now() - cached.readAt < this.cacheMs) return Promise.resolve(cached);
    let pending = this.loading.get(integrationId);
    if (!pending) {
      const load = this.load(integrationId);
      pending = load.finally(() => {
        if (this.loading.get(integrationId) === pending) this.loading.delete(integrationId);
      });
      this.loading.set(integrationId, pending);
    }
    return pending;
  }

  private async load(integrationId: string): Promise<Entry> {
    const readAt = this.deps.clock.now();
    const generation = this.generation;
    const row = await getIntegrationDelivery(this.deps.db, integrationId);
    const stale = generation !== this.generation;
    const version = row ? settingsVersion(row.settings_json) : null;
    const current = this.entries.get(integrationId);
    if (current && current.version === version) {
      current.readAt = readAt;
      current.stale = stale;
      return current;
    }
    const settings = row ? resolveDeliverySettings(this.deps.serverSecret, parseStoredSettings(row.settings_json)) : null;
    const entry = this.build(integrationId, version, readAt, settings, current?.built ?? []);
    entry.stale = stale;
    this.entries.set(integrationId, entry);
    if (current) {
      const kept = new Set(entry.built.map((b) => b.adapter));
      for (const b of current.built) if (!kept.has(b.adapter)) this.retire(b.adapter);
    }
    return entry;
  }

  private build(integrationId: string, version: string | null, readAt: number, settings: ResolvedDeliverySettings | null, previous: BuiltProvider[]): Entry {
    const built: BuiltProvider[] = [];
    const own: Entry['own'] = {};
    const use = (key: string, make: () => Provider): ResilientProvider | null => {
      const same = previous.find((b) => b.key === key) ?? built.find((b) => b.key === key);
      if (same) {
        if (!built.includes(same)) built.push(same);
        return same.adapter;
      }
      let provider: Provider;
      try {
        provider = make();
      } catch {
        return null; // unusable settings (a secret the library refuses): no adapter rather than someone else's
      }
      const adapter = new ResilientProvider(provider, this.deps.config.providerCalls, this.deps.observe);
      built.push({ key, adapter });
      return adapter;
    };

    if (settings) {
      const { config } = this.deps;
      const http = settings.http;
      if (http) {
        const { secret } = http;
        const input = { url: http.url, channels: http.channels, allowInsecure: config.webhookAllowInsecure };
        const adapter = secret === UNREADABLE ? null : use(fingerprint(['http', input, secret]), () => new HttpProvider({ ...input, secret }));
        for (const c of http.channels) own[c] = adapter;
      }

      const w = settings.whatsapp;
      if (w?.own === UNREADABLE) own.whatsapp = null;
      else if (w?.own) {
        const template = w.template ?? config.whatsapp?.template;
        if (template) {
          const input = {
            token: w.own.accessToken,
            phoneNumberId: w.own.phoneNumberId,
            template,
            language: w.language ?? null,
            baseUrl: this.deps.baseUrls?.whatsapp ?? config.whatsapp?.baseUrl ?? DEFAULT_WHATSAPP_BASE_URL,
          };
          own.whatsapp = use(fingerprint(['whatsapp', input]), () => new WhatsAppProvider(input));
        }
      }

      const s = settings.sms;
      if (s?.own === UNREADABLE) own.sms = null;
      else if (s?.own && s.from) {
        const input = {
          accountSid: s.own.accountSid,
          authToken: s.own.authToken,
          from: s.from,
          baseUrl: this.deps.baseUrls?.twilio ?? config.twilio?.baseUrl ?? DEFAULT_TWILIO_BASE_URL,
          // The integration's id in the callback URL: the callback is verified with this account's token.
          statusCallbackUrl: config.publicUrl ? `${config.publicUrl}${CALLBACK_PATHS.twilioStatus}?integration=${encodeURIComponent(integrationId)}` : null,
        };
        own.sms = use(fingerprint(['twilio', input]), () => new TwilioProvider(input));
      }

      const e = settings.email;
      if (e?.own === UNREADABLE) own.email = null;
      else if (e?.own && e.from) {
        const input = { smtpUrl: e.own.smtpUrl, from: e.from, timeoutMs: config.providerCalls.timeoutMs };
        own.email = use(fingerprint(['smtp', input]), () => new SmtpProvider(input));
      }
    }
    return { version, readAt, stale: false, settings, customisation: settings ? customisationOf(settings) : null, own, built };
  }

  /** Closes a replaced provider once the calls that may still use it are over. */
  private retire(adapter: ResilientProvider): void {
    if (!adapter.provider.close) return;
    if (this.closeGraceMs <= 0) {
      void adapter.provider.close().catch(() => undefined);
      return;
    }
    this.retiring.add(adapter);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.retiring.delete(adapter);
      void adapter.provider.close?.().catch(() => undefined);
    }, this.closeGraceMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async readAppSecrets(phoneNumberId: string): Promise<string[]> {
    const out: string[] = [];
    for (const row of await findIntegrationDeliveryByPhoneNumberId(this.deps.db, phoneNumberId)) {
      const own = resolveDeliverySettings(this.deps.serverSecret, parseStoredSettings(row.settings_json)).whatsapp?.own;
      if (own && own !== UNREADABLE && own.phoneNumberId === phoneNumberId && own.appSecret && !out.includes(own.appSecret)) out.push(own.appSecret);
    }
    return out;
  }
}

/** Brand, sender overrides and texts from resolved settings; null when none is set. */
export function customisationOf(settings: ResolvedDeliverySettings): DeliveryCustomisation | null {
  const out: DeliveryCustomisation = {};
  if (settings.brandName) out.brand = settings.brandName;
  const overrides: SenderOverrides = {};
  if (settings.whatsapp?.template) overrides.whatsappTemplate = settings.whatsapp.template;
  if (settings.whatsapp?.language) overrides.whatsappLanguage = settings.whatsapp.language;
  if (settings.sms?.from) overrides.smsFrom = settings.sms.from;
  if (settings.email?.from) overrides.emailFrom = settings.email.from;
  if (Object.keys(overrides).length > 0) out.overrides = overrides;
  if (settings.templates) out.templates = settings.templates;
  return Object.keys(out).length > 0 ? out : null;
}
