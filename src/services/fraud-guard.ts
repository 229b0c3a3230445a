import { fail, ok, problem, validationProblem, type Result } from '../domain/errors.js';
import { evaluateFraud, phonePrefix } from '../domain/fraud-guard.js';
import { parseIdentifier, type Identifier } from '../domain/identifiers.js';
import type { ServiceDeps, Tenant } from './context.js';

const HOUR_S = 3600;
const LOG_EVERY_MS = 60_000;

/** A pumping attack trips the guard on every send: one warning a minute per rule and country is enough. */
const lastLogged = new Map<string, number>();
function shouldLog(key: string, now: number): boolean {
  const last = lastLogged.get(key);
  if (last !== undefined && now - last < LOG_EVERY_MS) return false;
  if (lastLogged.size > 10_000) lastLogged.clear();
  lastLogged.set(key, now);
  return true;
}

/** Number types no OTP should go to on a live key: they bill the sender (pumping) or reach no one. */
const REFUSED_TYPES: Record<string, string> = {
  PREMIUM_RATE: 'premium_rate_number',
  SHARED_COST: 'shared_cost_number',
};

/** 400 for premium-rate, shared-cost and unassigned numbers on live keys (libphonenumber's types). */
export function refuseCostlyNumbers(tenant: Tenant, identifier: Identifier): Result<void> {
  if (tenant.mode !== 'live' || identifier.kind !== 'phone' || identifier.phoneType === undefined) return ok(undefined);
  const reason = identifier.phoneType === null ? 'unassigned_number' : REFUSED_TYPES[identifier.phoneType];
  if (!reason) return ok(undefined);
  return fail(validationProblem('Codes are not sent to premium-rate, shared-cost or unassigned numbers.', { identifier: [reason] }));
}

/** Whether a live send must not reach this phone (a CPF's or an identity's), by the same rule as refuseCostlyNumbers. */
export function isCostlyDestination(tenant: Tenant, phone: string): boolean {
  if (tenant.mode !== 'live') return false;
  const parsed = parseIdentifier(phone);
  return !parsed.ok || !refuseCostlyNumbers(tenant, parsed.identifier).ok;
}

/** The identifier of the phone a code goes to (`destination`), or `fallback` when it is no phone. */
export function phoneOf(destination: string, fallback: Identifier): Identifier {
  if (destination === fallback.value) return fallback;
  const parsed = parseIdentifier(destination);
  return parsed.ok && parsed.identifier.kind === 'phone' ? parsed.identifier : fallback;
}

function keys(tenant: Tenant, identifier: Identifier): { country: string; prefix: string } {
  const scope = `${tenant.integrationId}:${tenant.mode}`;
  return { country: `${scope}:${identifier.country ?? 'ZZ'}`, prefix: `${scope}:${phonePrefix(identifier.value)}` };
}

/** Whether guardSend judges a send to this identifier (a live one to a phone, with the guard on). */
export const guardApplies = (tenant: Tenant, identifier: Identifier): boolean => tenant.mode === 'live' && identifier.kind === 'phone' && tenant.policy.fraud_guard !== 'off';

/**
 * The SMS-pumping guard on a live send to a phone: counts the send per country and per number range
 * (hourly windows), then applies the caps and the conversion throttle of `policy.fraud_limits`.
 * `monitor` logs and counts a suspect send and lets it through; `block` refuses it with 403
 * fraud-suspected. Sends are counted whether or not they are let through, so a blocked range stays
 * blocked until its window ends.
 */
export async function guardSend(deps: ServiceDeps, tenant: Tenant, identifier: Identifier): Promise<Result<void>> {
  if (!guardApplies(tenant, identifier)) return ok(undefined);
  const k = keys(tenant, identifier);
  const counters = deps.counters ?? deps.limits;
  const [countrySends, prefixSends] = await Promise.all([counters.tally('fraud_sends_country', k.country, HOUR_S), counters.tally('fraud_sends_prefix', k.prefix, HOUR_S)]);
  // Approvals matter only once the conversion rule can apply.
  const minSends = tenant.policy.fraud_limits.conversion_min_sends;
  const [countryApprovals, prefixApprovals] = await Promise.all([
    countrySends >= minSends ? counters.peek('fraud_approvals_country', k.country, HOUR_S) : 0,
    prefixSends >= minSends ? counters.peek('fraud_approvals_prefix', k.prefix, HOUR_S) : 0,
  ]);
  const verdict = evaluateFraud({ countrySends, prefixSends, countryApprovals, prefixApprovals }, tenant.policy.fraud_limits);
  if (!verdict.suspected) return ok(undefined);
  const action = tenant.policy.fraud_guard === 'block' ? 'block' : 'monitor';
  deps.metrics.fraudSuspected?.(verdict.rule, action);
  if (shouldLog(`${tenant.integrationId}:${tenant.mode}:${verdict.rule}:${identifier.country ?? ''}`, deps.clock.now())) {
    deps.logger?.warn({ integration_id: tenant.integrationId, country: identifier.country, rule: verdict.rule, action }, `fraud guard: ${verdict.detail} (logged once a minute per rule and country; the metric counts each send)`);
  }
  return action === 'block' ? fail(problem('fraud-suspected', verdict.detail, { rule: verdict.rule })) : ok(undefined);
}

/** Counts an approval for the conversion throttle. */
export async function noteApproval(deps: ServiceDeps, tenant: Tenant, identifier: Identifier): Promise<void> {
  if (!guardApplies(tenant, identifier)) return;
  const k = keys(tenant, identifier);
  const counters = deps.counters ?? deps.limits;
  await Promise.all([counters.tally('fraud_approvals_country', k.country, HOUR_S), counters.tally('fraud_approvals_prefix', k.prefix, HOUR_S)]);
}
