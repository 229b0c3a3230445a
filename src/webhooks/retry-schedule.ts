import type { Random } from '../domain/clock.js';

/**
 * How long after each failed attempt the next one is made (API.md): about 5 s, 5 min, 30 min, 2 h,
 * 5 h, 10 h, 14 h, 20 h and 24 h. After the tenth attempt fails the delivery is `failed` (a manual
 * retry can still send it).
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000] as const;

/** Attempts in all: the first and one per delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** A Retry-After above this is not waited for longer (the schedule's longest step). */
const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * The wait before the next attempt after `attempts` attempts have failed, or null when none is
 * left: the schedule's step with ±10 % jitter (so receivers coming back are not hit all at once),
 * and at least the receiver's Retry-After.
 */
export function nextRetryDelay(attempts: number, random: Random, retryAfterMs: number | null = null): number | null {
  const step = RETRY_DELAYS_MS[attempts - 1];
  if (step === undefined) return null;
  const jittered = Math.round(step * (0.9 + random.int(0, 2001) / 10_000));
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}

/** A Retry-After header (seconds, or an HTTP date) in milliseconds from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return null;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^[A-Za-z]{3}, /.test(text)) return null; // an HTTP date ("Thu, 01 Jan 2026 12:00:00 GMT"), nothing else
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
