import type { Policy } from '../domain/policy.js';
import { deliveriesOf, type DeliveryRow } from '../store/deliveries-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import { findVerificationForEvent, type VerificationRow } from '../store/verifications-repo.js';
import { integrationPolicy } from './integrations.js';
import { presentVerification } from './present-verification.js';
import { recordEvent, type EventDeps } from './record-event.js';
import type { WebhookEventType } from '../webhooks/event-types.js';

/** The verification.* types of the one event list (webhooks/event-types.ts). */
export type VerificationEventType = Extract<WebhookEventType, `verification.${string}`>;

export interface VerificationEventOptions {
  /** The verification's deliveries, when the caller has them (else read in the transaction). */
  deliveries?: DeliveryRow[];
  /** Fields added beside the verification's own (a delivery event's attempt). */
  extra?: object;
}

/**
 * Records a verification event in the caller's transaction: `data` is the verification exactly as
 * `GET /v1/verifications/{id}` shows it (presentVerification: never the code, its hash or the sealed
 * code), as of `now`, plus `extra`.
 */
export async function recordVerificationEvent(
  trx: QueryRunner,
  deps: EventDeps,
  type: VerificationEventType,
  v: VerificationRow,
  policy: Policy,
  now: number,
  options: VerificationEventOptions = {},
): Promise<void> {
  const deliveries = options.deliveries ?? (await deliveriesOf(trx, v.id));
  const data = { ...presentVerification(v, deliveries, policy, now), ...options.extra };
  await recordEvent(trx, deps, { integrationId: v.integration_id, mode: v.mode }, type, data, now);
}

const POLICY_MEMO_MAX = 1_000;
const policyMemo = new Map<string, Policy>();

/**
 * An integration's effective policy from its stored settings, memoised on them (parsing and merging
 * them costs more than the rest of a delivery event). Only read: events take the resend cooldown.
 */
export function storedPolicy(row: { trust_level: string; policy_json: string }): Policy {
  const key = `${row.trust_level}\n${row.policy_json}`;
  let policy = policyMemo.get(key);
  if (!policy) {
    policy = integrationPolicy(row);
    if (policyMemo.size >= POLICY_MEMO_MAX) policyMemo.clear();
    policyMemo.set(key, policy);
  }
  return policy;
}

/**
 * The same, for a writer without the request's tenant (the outbox worker): reads the verification,
 * with its integration's policy, in the transaction. Nothing is recorded for an unknown id.
 */
export async function recordVerificationEventById(
  trx: QueryRunner,
  deps: EventDeps,
  type: VerificationEventType,
  verificationId: string,
  now: number,
  extra?: (deliveries: DeliveryRow[]) => object,
): Promise<void> {
  const found = await findVerificationForEvent(trx, verificationId); // one read: the verification, its policy and its deliveries
  if (!found) return;
  const { verification: v, deliveries } = found;
  await recordVerificationEvent(trx, deps, type, v, storedPolicy(v), now, { deliveries, ...(extra ? { extra: extra(deliveries) } : {}) });
}
