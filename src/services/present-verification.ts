import { toIso } from '../domain/clock.js';
import type { Policy } from '../domain/policy.js';
import { effectiveFailureReason, effectiveStatus, resendAvailableAt } from '../domain/verification.js';
import type { DeliveryRow } from '../store/deliveries-repo.js';
import type { VerificationRow } from '../store/verifications-repo.js';

export interface DeliveryView {
  channel: string;
  status: string;
  /** When the attempt last changed. */
  at: string;
  provider: string | null;
  provider_message_id: string | null;
  error_code?: string;
  error?: string;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
}

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : toIso(ms));

/** One delivery attempt as the API shows it (no address beyond the verification's, never the text). */
export function presentDelivery(d: DeliveryRow): DeliveryView {
  return {
    channel: d.channel,
    status: d.status,
    at: toIso(d.updated_at),
    provider: d.provider,
    provider_message_id: d.provider_message_id,
    ...(d.error_code ? { error_code: d.error_code } : {}),
    ...(d.error ? { error: d.error } : {}),
    created_at: toIso(d.created_at),
    sent_at: isoOrNull(d.sent_at),
    delivered_at: isoOrNull(d.delivered_at),
    failed_at: isoOrNull(d.failed_at),
  };
}

export interface VerificationView {
  id: string;
  status: string;
  failure_reason: string | null;
  identifier: string;
  identifier_type: string;
  channel: string;
  action: string;
  locale: string | null;
  code_length: number;
  attempts: number;
  max_attempts: number;
  sends: number;
  expires_at: string;
  resend_available_at: string;
  deliveries: DeliveryView[];
  created_at: string;
  updated_at: string;
}

/** The public shape of a verification (never its code or code hash). */
export function presentVerification(v: VerificationRow, deliveries: DeliveryRow[], policy: Policy, now: number): VerificationView {
  return {
    id: v.id,
    status: effectiveStatus(v, now),
    failure_reason: effectiveFailureReason(v, now),
    identifier: v.identifier,
    identifier_type: v.identifier_kind,
    channel: v.channel,
    action: v.action,
    locale: v.locale,
    code_length: v.code_length,
    attempts: v.attempts,
    max_attempts: v.max_attempts,
    sends: v.sends,
    expires_at: toIso(v.expires_at),
    resend_available_at: toIso(resendAvailableAt(v, policy)),
    deliveries: deliveries.map(presentDelivery),
    created_at: toIso(v.created_at),
    updated_at: toIso(v.updated_at),
  };
}
