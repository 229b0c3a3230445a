import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ServiceDeps } from '../services/context.js';
import { inboxSettings } from '../services/inbox-settings.js';
import { acceptsAddress, deliverInbound } from './inbox-intake.js';
import { loadSmtpTls, startSmtpListener, type SmtpListener } from './smtp-listener.js';

/**
 * Starts the sandbox SMTP listener as configured (OTPGATE_SANDBOX_SMTP_*), wired to the inboxes;
 * null when OTPGATE_SANDBOX_SMTP_PORT is `off`. Rejects, naming the setting, when a TLS file
 * cannot be read or the port cannot be bound.
 */
export async function startSandboxSmtp(
  config: Pick<Config, 'sandboxSmtpPort' | 'sandboxSmtp' | 'shutdownTimeoutMs'>,
  services: ServiceDeps,
  logger: Logger,
): Promise<SmtpListener | null> {
  if (config.sandboxSmtpPort === null) return null;
  const settings = config.sandboxSmtp;
  const listener = await startSmtpListener({
    host: settings.host,
    port: config.sandboxSmtpPort,
    limits: settings,
    tls: await loadSmtpTls(settings.tls),
    auth: settings.auth,
    // No relay: only the sandbox domain's addresses (OTPGATE_SANDBOX_DOMAIN) are ever looked up.
    domain: inboxSettings(services).domain,
    // A third of the shutdown budget for SMTP transactions in progress; the rest drains HTTP and the worker.
    closeTimeoutMs: Math.floor(config.shutdownTimeoutMs / 3),
    accepts: (address) => acceptsAddress(services, address),
    deliver: (message) => deliverInbound(services, message),
    logger,
  });
  logger.info({ host: listener.host, port: listener.port, starttls: settings.tls !== null, auth: settings.auth !== null }, 'sandbox SMTP listener started');
  return listener;
}
