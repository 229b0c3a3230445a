import { expect } from 'vitest';
import type { TestRuntime } from '../helpers/runtime.js';

/** One row of the `events` table, its data parsed. */
export interface StoredEvent {
  id: string;
  integration_id: string;
  mode: string;
  type: string;
  data: Record<string, unknown>;
  data_json: string;
  created_at: number;
}

/** Every recorded event (oldest first), optionally of one type and one integration. */
export async function storedEvents(rt: TestRuntime, filter: { type?: string; integrationId?: string } = {}): Promise<StoredEvent[]> {
  let query = rt.store.db.selectFrom('events').selectAll();
  if (filter.type !== undefined) query = query.where('type', '=', filter.type);
  if (filter.integrationId !== undefined) query = query.where('integration_id', '=', filter.integrationId);
  const rows = await query.orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
  return rows.map((r) => ({ ...r, created_at: Number(r.created_at), data: JSON.parse(r.data_json) as Record<string, unknown> }));
}

/** The events about one verification (`data.id`), optionally of one type. */
export async function verificationEvents(rt: TestRuntime, verificationId: string, type?: string): Promise<StoredEvent[]> {
  return (await storedEvents(rt, type === undefined ? {} : { type })).filter((e) => e.data.id === verificationId);
}

/** Keys that must never appear anywhere in an event's data. */
const FORBIDDEN_KEYS = ['code', 'code_hash', 'code_sealed', 'otp_session', 'session_token', 'token_hash', 'access_token', 'secret', 'signing_secret', 'key'];

function keysOf(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) keysOf(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into.push(k);
      keysOf(v, into);
    }
  }
  return into;
}

/**
 * The event carries no secret: none of `secrets` (the code, a session token…) appears anywhere in
 * its stored JSON, no key names a code, hash, session or secret, and nothing looks like an OTP
 * session token (`otps_…`) or an API key (`otpg_…`).
 */
export function expectNoSecrets(event: StoredEvent, ...secrets: string[]): void {
  for (const secret of secrets) expect(event.data_json, `${event.type} must not carry a secret`).not.toContain(secret);
  expect(keysOf(event.data).filter((k) => FORBIDDEN_KEYS.includes(k))).toEqual([]);
  expect(event.data_json).not.toMatch(/otps_|otpg_/);
}

/** Waits (real time) until `probe` returns a value that is not undefined, or fails after `ms`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
