import type { Channel } from '../domain/policy.js';
import type { ServiceDeps, Tenant } from './context.js';

/**
 * Which channels can deliver for a tenant: all in test mode (the sandbox captures them), in live mode
 * those with a provider: the integration's own (operator settings) or the deployment's.
 */
export async function availableChannels(deps: ServiceDeps, tenant: Tenant): Promise<(channel: Channel) => boolean> {
  if (tenant.mode === 'test') return () => true;
  if (!deps.liveChannelsFor) return (c) => deps.liveChannels[c] !== undefined;
  const own = await deps.liveChannelsFor(tenant.integrationId);
  return (c) => own.includes(c);
}
