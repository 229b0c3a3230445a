import type { Config } from '../config.js';
import type { Channel } from '../domain/policy.js';
import { ProviderDirectory, providersFromConfig } from '../delivery/providers/directory.js';

export interface ProvidersReport {
  providers: { name: string; channels: Channel[]; ok: boolean; detail: string }[];
  /** Channels live mode can use: carried by a provider whose credentials work. */
  live_channels: Channel[];
  /** Channels no working provider carries: a live send asking for one gets 422 channel-unavailable (auto skips it). */
  unavailable_channels: Channel[];
}

const ALL: readonly Channel[] = ['whatsapp', 'sms', 'email'];

/**
 * `otpgate providers check`: one read-only call per configured provider (no message is sent) to
 * prove its credentials, and the channels live mode can therefore use.
 */
export async function checkProviders(config: Config): Promise<ProvidersReport> {
  const directory = new ProviderDirectory(providersFromConfig(config), config);
  try {
    const status = directory.status();
    const providers = await Promise.all(
      directory.providers.map(async (p) => {
        const result = await p.provider.check(AbortSignal.timeout(config.providerCalls.timeoutMs)).catch((err: unknown) => ({ ok: false, detail: err instanceof Error ? err.message : String(err) }));
        return { name: p.name, channels: status.find((s) => s.name === p.name)?.channels ?? [], ok: result.ok, detail: result.detail };
      }),
    );
    const live = ALL.filter((c) => providers.some((p) => p.ok && p.channels.includes(c)));
    return { providers, live_channels: live, unavailable_channels: ALL.filter((c) => !live.includes(c)) };
  } finally {
    await directory.close();
  }
}

export function formatProvidersReport(report: ProvidersReport): string {
  const lines = report.providers.length === 0 ? ['no live provider is configured (OTPGATE_WHATSAPP_*, OTPGATE_TWILIO_*, OTPGATE_SMTP_URL, OTPGATE_HTTP_PROVIDER_URL)'] : [];
  for (const p of report.providers) lines.push(`${p.ok ? 'ok  ' : 'FAIL'} ${p.name.padEnd(8)} ${(p.channels.join(', ') || '(no channel)').padEnd(22)} ${p.detail}`);
  lines.push(`live channels: ${report.live_channels.join(', ') || 'none'}`);
  if (report.unavailable_channels.length) lines.push(`unavailable in live mode: ${report.unavailable_channels.join(', ')}`);
  return `${lines.join('\n')}\n`;
}
