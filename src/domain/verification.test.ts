import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, effectivePolicy, type Policy } from './policy.js';
import { afterWrongCode, effectiveStatus, gateCheck, gateResend, resolveChannel, type VerificationState } from './verification.js';

const NOW = Date.UTC(2026, 0, 1, 12);
const policy = (patch: Parameters<typeof effectivePolicy>[1] = {}): Policy => effectivePolicy('strict', patch);

function state(over: Partial<VerificationState> = {}): VerificationState {
  return { status: 'pending', failure_reason: null, attempts: 0, max_attempts: 5, sends: 1, expires_at: NOW + 300_000, last_sent_at: NOW, ...over };
}

describe('effectiveStatus', () => {
  it('reads a pending verification as expired from its expiry instant on', () => {
    const v = state();
    expect(effectiveStatus(v, v.expires_at - 1)).toBe('pending');
    expect(effectiveStatus(v, v.expires_at)).toBe('expired');
  });
  it('leaves final states alone', () => {
    expect(effectiveStatus(state({ status: 'approved' }), NOW + 10 ** 9)).toBe('approved');
  });
});

describe('gateCheck', () => {
  it('compares only while pending', () => {
    expect(gateCheck(state(), NOW)).toEqual({ compare: true });
  });
  it.each([
    [undefined, 'not-found'],
    [state({ status: 'approved' }), 'not-found'],
    [state({ status: 'canceled' }), 'not-found'],
    [state({ status: 'failed' }), 'max-attempts-reached'],
    [state({ expires_at: NOW }), 'code-expired'],
  ])('%# refuses with the right problem', (v, type) => {
    const gate = gateCheck(v, NOW);
    expect(gate.compare).toBe(false);
    if (!gate.compare) expect(gate.problem.type).toBe(type);
  });
});

describe('afterWrongCode', () => {
  it('counts down attempts and fails on the last one', () => {
    expect(afterWrongCode(1, 3, policy())).toEqual({ fails: false, attemptsRemaining: 2, reason: null });
    expect(afterWrongCode(3, 3, policy())).toEqual({ fails: true, attemptsRemaining: 0, reason: 'max_attempts_reached' });
  });
  it('fails at once under on_wrong_code=restart', () => {
    expect(afterWrongCode(1, 5, policy({ checks: { on_wrong_code: 'restart' } }))).toEqual({ fails: true, attemptsRemaining: 0, reason: 'wrong_code' });
  });
});

describe('gateResend', () => {
  it('enforces the cooldown with the time left', () => {
    const res = gateResend(state(), policy(), NOW + 10_000);
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.problem.type).toBe('resend-cooldown');
      expect(res.problem.extra?.retry_after).toBe(20);
    }
    expect(gateResend(state(), policy(), NOW + 30_000).ok).toBe(true);
  });
  it('stops at max_sends', () => {
    const res = gateResend(state({ sends: 5 }), policy(), NOW + 60_000);
    expect(!res.ok && res.problem.type).toBe('max-sends-reached');
  });
  it('refuses a verification that is no longer pending, expiry included', () => {
    const expired = gateResend(state({ expires_at: NOW + 1000 }), policy(), NOW + 60_000);
    expect(!expired.ok && expired.problem.type).toBe('invalid-state');
    const approved = gateResend(state({ status: 'approved' }), policy(), NOW + 60_000);
    expect(!approved.ok && approved.problem.type).toBe('invalid-state');
  });
});

describe('resolveChannel', () => {
  const all = () => true;
  it('auto follows the policy order for a phone and skips unavailable channels', () => {
    expect(resolveChannel('phone', 'auto', DEFAULT_POLICY, all)).toEqual({ ok: true, value: 'whatsapp' });
    expect(resolveChannel('phone', 'auto', DEFAULT_POLICY, (c) => c !== 'whatsapp')).toEqual({ ok: true, value: 'sms' });
    expect(resolveChannel('phone', 'auto', policy({ channels: ['sms', 'whatsapp'] }), all)).toEqual({ ok: true, value: 'sms' });
  });
  it('auto sends an email by email', () => {
    expect(resolveChannel('email', 'auto', DEFAULT_POLICY, all)).toEqual({ ok: true, value: 'email' });
  });
  it('refuses a channel that cannot reach the identifier (400), is off in the policy or has no provider (422)', () => {
    const wrong = resolveChannel('email', 'sms', DEFAULT_POLICY, all);
    expect(!wrong.ok && wrong.problem.type).toBe('validation-error');
    const off = resolveChannel('phone', 'sms', policy({ channels: ['whatsapp'] }), all);
    expect(!off.ok && off.problem.type).toBe('channel-unavailable');
    const none = resolveChannel('phone', 'auto', DEFAULT_POLICY, () => false);
    expect(!none.ok && none.problem.type).toBe('channel-unavailable');
  });
});
