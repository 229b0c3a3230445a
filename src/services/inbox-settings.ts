import { InboxWaiters } from '../sandbox/inbox-waiters.js';
import type { ServiceDeps } from './context.js';

/** What the inbox operations need beyond the common services (from config.sandboxInboxes). */
export interface InboxSettings {
  /** Domain of email inboxes (OTPGATE_SANDBOX_DOMAIN). */
  readonly domain: string;
  /** The waiting window, from creation and from each reorder (OTPGATE_SANDBOX_INBOX_TTL_MS). */
  readonly ttlMs: number;
  /** An inbox regex's time budget per message (OTPGATE_SANDBOX_REGEX_TIMEOUT_MS). */
  readonly regexTimeoutMs: number;
  /** This process's long-poll waiters. */
  readonly waiters: InboxWaiters;
  /** Tells every process (this one included) that an inbox changed, after the commit. */
  readonly announce: (inboxId: string) => void;
  /** The longest a long-poll holds (ms): 60 s, less when the HTTP server closes idle sockets sooner (OTPGATE_SOCKET_TIMEOUT_MS). */
  readonly maxWaitMs?: number;
}

export const DEFAULT_SANDBOX_DOMAIN = 'sandbox.otpgate.test';
export const DEFAULT_INBOX_TTL_MS = 20 * 60_000;
export const DEFAULT_REGEX_TIMEOUT_MS = 50;

let fallback: InboxSettings | null = null;

/** The deployment's inbox settings; services built without them (unit set-ups) get one process's defaults. */
export function inboxSettings(deps: Pick<ServiceDeps, 'inboxes'>): InboxSettings {
  if (deps.inboxes) return deps.inboxes;
  if (!fallback) {
    const waiters = new InboxWaiters();
    fallback = { domain: DEFAULT_SANDBOX_DOMAIN, ttlMs: DEFAULT_INBOX_TTL_MS, regexTimeoutMs: DEFAULT_REGEX_TIMEOUT_MS, waiters, announce: (id) => waiters.wake(id) };
  }
  return fallback;
}
