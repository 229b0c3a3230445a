import { describe, expect, it } from 'vitest';
import { LocalNotifier } from '../../pubsub.js';
import { OperatorSessions } from './operator-session.js';

const secret = Buffer.alloc(32, 7);
const make = (now: { t: number }, options: Partial<{ adminToken: string; notifier: LocalNotifier }> = {}) =>
  new OperatorSessions({ serverSecret: secret, adminToken: options.adminToken ?? 'admin-token-0123456789', idleMs: 600_000, maxMs: 3_600_000, secure: false, now: () => now.t, ...(options.notifier ? { notifier: options.notifier } : {}) });

describe('console sessions', () => {
  it('lapse after the idle time without a request, and each request moves the idle time on', () => {
    const now = { t: 1_000_000 };
    const sessions = make(now);
    let { value } = sessions.issue();
    now.t += 599_999;
    const seen = sessions.read(value);
    expect(seen).not.toBeNull();
    value = sessions.touched(seen!)!; // a request now: re-issued with the new "last seen"
    expect(value).toBeTruthy();
    now.t += 599_999; // 20 min after sign-in, 10 min after the last request
    expect(sessions.read(value)).not.toBeNull();
    now.t += 1;
    expect(sessions.read(value)).toBeNull();
  });

  it('lapse at the maximum age however active, and are re-issued at most once a refresh interval', () => {
    const now = { t: 5_000_000 };
    const sessions = make(now);
    let { session, value } = sessions.issue();
    expect(sessions.touched(session)).toBeNull(); // just issued: nothing to re-send
    for (let i = 0; i < 6; i++) {
      now.t += 540_000;
      session = sessions.read(value)!;
      expect(session, `request ${i}`).not.toBeNull();
      value = sessions.touched(session)!;
    }
    now.t += 540_000; // 63 min after sign-in, 9 min after the last request
    expect(sessions.read(value)).toBeNull();
  });

  it('are refused when tampered with, signed for another admin token, or signed out (in every process told)', () => {
    const now = { t: 9_000_000 };
    const notifier = new LocalNotifier();
    const a = make(now, { notifier });
    const b = make(now, { notifier }); // another process of the deployment
    const { session, value } = a.issue();
    expect(b.read(value)).not.toBeNull();
    expect(a.read(value.replace(/\.(\d+)\./, (_m, n: string) => `.${Number(n) - 1}.`))).toBeNull();
    expect(make(now, { adminToken: 'another-admin-token-000' }).read(value)).toBeNull();
    a.revoke(session);
    expect(a.read(value)).toBeNull();
    expect(b.read(value)).toBeNull();
    expect(a.read(a.issue().value)).not.toBeNull(); // a new sign-in is a new session
  });

  it('compare the admin token exactly', () => {
    const sessions = make({ t: 0 });
    expect(sessions.isAdminToken('admin-token-0123456789')).toBe(true);
    for (const wrong of ['', 'admin-token-012345678', 'admin-token-0123456789 ', 'ADMIN-TOKEN-0123456789']) expect(sessions.isAdminToken(wrong)).toBe(false);
  });
});
