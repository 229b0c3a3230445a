import { describe, expect, it } from 'vitest';
import { applyInboxAction, effectiveInboxStatus, INBOX_STATUSES, isLapsed, isOpen, receiveInInbox, type InboxAction, type InboxStatus } from './inbox.js';

const NOW = 1_000_000;
const TTL = 20 * 60_000;
const at = (status: InboxStatus, expires_at = NOW + 60_000) => ({ status, expires_at });

describe('inbox state machine', () => {
  const allowed: Record<InboxAction, InboxStatus[]> = {
    finish: ['waiting', 'otp_received'],
    cancel: ['waiting'],
    reorder: ['waiting', 'otp_received'],
  };
  const target: Record<InboxAction, InboxStatus> = { finish: 'finished', cancel: 'canceled', reorder: 'waiting' };

  for (const action of ['finish', 'cancel', 'reorder'] as const) {
    for (const status of INBOX_STATUSES) {
      const permitted = allowed[action].includes(status);
      it(`${action} from ${status} is ${permitted ? 'allowed' : 'refused with invalid-state'}`, () => {
        const result = applyInboxAction(at(status), action, NOW, TTL);
        if (permitted) {
          expect(result).toMatchObject({ ok: true, value: { status: target[action] } });
        } else {
          expect(result.ok).toBe(false);
          if (!result.ok) {
            expect(result.problem.type).toBe('invalid-state');
            expect(result.problem.extra).toEqual({ inbox_status: status });
            expect(result.problem.detail).toContain(status);
          }
        }
      });
    }
  }

  it('reorder opens a whole new window from now; finish and cancel keep the window', () => {
    const reordered = applyInboxAction(at('otp_received', NOW + 5), 'reorder', NOW, TTL);
    expect(reordered).toEqual({ ok: true, value: { status: 'waiting', expires_at: NOW + TTL } });
    expect(applyInboxAction(at('waiting', NOW + 5), 'finish', NOW, TTL)).toEqual({ ok: true, value: { status: 'finished', expires_at: NOW + 5 } });
    expect(applyInboxAction(at('waiting', NOW + 5), 'cancel', NOW, TTL)).toEqual({ ok: true, value: { status: 'canceled', expires_at: NOW + 5 } });
  });

  it('an open inbox at or past its window reads as expired and refuses every action', () => {
    for (const status of ['waiting', 'otp_received'] as const) {
      const lapsed = at(status, NOW);
      expect(effectiveInboxStatus(lapsed, NOW)).toBe('expired');
      expect(effectiveInboxStatus(lapsed, NOW - 1)).toBe(status);
      expect(isLapsed(lapsed, NOW)).toBe(true);
      for (const action of ['finish', 'cancel', 'reorder'] as const) {
        const result = applyInboxAction(lapsed, action, NOW, TTL);
        expect(result.ok ? null : result.problem.extra).toEqual({ inbox_status: 'expired' });
      }
    }
    // Closed inboxes keep their own status whatever the clock says.
    expect(effectiveInboxStatus(at('finished', 0), NOW)).toBe('finished');
    expect(isLapsed(at('canceled', 0), NOW)).toBe(false);
  });

  it('a code moves an open inbox to otp_received; a message without one changes nothing', () => {
    expect(receiveInInbox(at('waiting'), true, NOW)?.status).toBe('otp_received');
    expect(receiveInInbox(at('otp_received'), true, NOW)?.status).toBe('otp_received');
    expect(receiveInInbox(at('waiting'), false, NOW)?.status).toBe('waiting');
  });

  it('closed or lapsed inboxes take no message', () => {
    for (const status of ['finished', 'canceled', 'expired'] as const) expect(receiveInInbox(at(status), true, NOW)).toBeNull();
    expect(receiveInInbox(at('waiting', NOW), true, NOW)).toBeNull();
    expect(isOpen('waiting') && isOpen('otp_received') && !isOpen('expired')).toBe(true);
  });
});
