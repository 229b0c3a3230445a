import { toIso } from '../domain/clock.js';
import type { FailureRule } from '../limits/limits.js';
import type { QueryRunner } from '../store/prepared.js';
import { recordEvent, type EventDeps, type EventScope } from './record-event.js';

/** `identifier.locked` as webhooks show it: what the 429 `identifier-locked` of a check says, and why. */
export interface IdentifierLockedData {
  /** The identifier as the check that locked it named it (the lock covers every spelling of it). */
  identifier: string;
  /** The verification whose wrong code spent the last failure. */
  verification_id: string;
  /** Seconds the lock lasts (`lock_duration` of the 429), and when it ends. */
  lock_duration: number;
  locked_until: string;
  max_failures: number;
  window_s: number;
}

/**
 * Records `identifier.locked` once, when a lockout starts: the caller is the one check that spent the
 * last failure of the budget (FlexibleLimits.reserveFailure answers `last` to exactly one), never a
 * check refused while the lock runs.
 */
export async function recordIdentifierLocked(
  trx: QueryRunner,
  deps: EventDeps,
  scope: EventScope,
  input: { identifier: string; verificationId: string; rule: FailureRule; now: number },
): Promise<void> {
  const data: IdentifierLockedData = {
    identifier: input.identifier,
    verification_id: input.verificationId,
    lock_duration: input.rule.durationS,
    locked_until: toIso(input.now + input.rule.durationS * 1000),
    max_failures: input.rule.maxFailures,
    window_s: input.rule.windowS,
  };
  await recordEvent(trx, deps, scope, 'identifier.locked', data, input.now);
}
