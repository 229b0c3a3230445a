import type { Clock, Random } from '../domain/clock.js';
import type { HostLookup } from '../net/url-guard.js';
import type { Db } from '../store/tables.js';
import type { Scope } from '../store/verifications-repo.js';

/** What the webhook operations need. */
export interface WebhookServiceDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly random: Random;
  readonly serverSecret: Buffer;
  /** OTPGATE_WEBHOOK_ALLOW_INSECURE: http and private addresses allowed (development, tests). */
  readonly allowInsecure: boolean;
  /** How the save-time check resolves host names (default: the system resolver). */
  readonly lookup?: HostLookup;
  /** How host names are resolved when connecting (default: the system resolver). */
  readonly connectLookup?: HostLookup;
  /** One attempt's timeout (the test event too). */
  readonly timeoutMs: number;
  /** Called after an endpoint of `scope` changed (forget cached presence, tell the other processes). */
  readonly changed: (scope: Scope) => void;
  /** Wakes the dispatcher (deliveries became due). */
  readonly poke: () => void;
}
