import type { Config } from '../../config.js';
import type { Channel } from '../../domain/policy.js';
import type { ChannelRegistry } from '../channel.js';
import { ResilientProvider, type AttemptObservation, type CircuitStatus } from '../resilience.js';
import { HttpProvider } from './http.js';
import type { Provider, ProviderName } from './provider.js';
import { SmtpProvider } from './smtp.js';
import { TwilioProvider } from './twilio.js';
import { WhatsAppProvider } from './whatsapp.js';

export interface ProviderStatus {
  name: ProviderName;
  /** The channels this provider carries in live mode. */
  channels: Channel[];
  circuit: CircuitStatus;
}

/** The callback paths providers are told about (API contract). */
export const CALLBACK_PATHS = {
  whatsapp: '/v1/providers/whatsapp/webhook',
  twilioStatus: '/v1/providers/twilio/status',
  twilioInbound: '/v1/providers/twilio/inbound',
} as const;

/** The deployment's providers, from the environment (each optional). */
export function providersFromConfig(config: Config): Provider[] {
  const providers: Provider[] = [];
  if (config.whatsapp) {
    const w = config.whatsapp;
    providers.push(new WhatsAppProvider({ token: w.token, phoneNumberId: w.phoneNumberId, template: w.template, baseUrl: w.baseUrl }));
  }
  if (config.twilio) {
    const t = config.twilio;
    const statusCallbackUrl = config.publicUrl ? `${config.publicUrl}${CALLBACK_PATHS.twilioStatus}` : null;
    providers.push(new TwilioProvider({ accountSid: t.accountSid, authToken: t.authToken, from: t.from, baseUrl: t.baseUrl, statusCallbackUrl }));
  }
  if (config.email) providers.push(new SmtpProvider({ smtpUrl: config.email.smtpUrl, from: config.email.from, timeoutMs: config.providerCalls.timeoutMs }));
  if (config.httpProvider) {
    const h = config.httpProvider;
    providers.push(new HttpProvider({ url: h.url, secret: h.secret, channels: h.channels, allowInsecure: config.webhookAllowInsecure }));
  }
  return providers;
}

/**
 * Live mode's providers, each behind its resilience policies, and which one carries each channel:
 * a dedicated provider (WhatsApp Cloud API, Twilio, SMTP) first, the generic HTTP gateway for the
 * channels it lists that none of them carries.
 */
export class ProviderDirectory {
  readonly providers: ResilientProvider[];
  readonly registry: ChannelRegistry = {};

  constructor(providers: Provider[], config: Pick<Config, 'providerCalls'>, observe?: (attempt: AttemptObservation) => void) {
    this.providers = providers.map((p) => new ResilientProvider(p, config.providerCalls, observe));
    const ordered = [...this.providers].sort((a, b) => Number(a.name === 'http') - Number(b.name === 'http'));
    for (const provider of ordered) {
      for (const channel of provider.provider.channels) this.registry[channel] ??= provider;
    }
  }

  static fromConfig(config: Config, observe?: (attempt: AttemptObservation) => void): ProviderDirectory {
    return new ProviderDirectory(providersFromConfig(config), config, observe);
  }

  /** Each provider, the channels it carries and its circuit (for /readyz and `providers check`). */
  status(): ProviderStatus[] {
    return this.providers.map((p) => ({
      name: p.name,
      channels: (Object.keys(this.registry) as Channel[]).filter((c) => this.registry[c] === p),
      circuit: p.circuit(),
    }));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.providers.map((p) => p.provider.close?.()));
  }
}
