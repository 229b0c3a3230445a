import type { Random } from './clock.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 text of `length` characters drawn without modulo bias. */
export function base62(random: Random, length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of random.bytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62]; // 248 = 4 * 62: drop the biased tail
      if (out.length === length) break;
    }
  }
  return out;
}

export type IdPrefix = 'int' | 'key' | 'ver' | 'ses' | 'idn' | 'evt' | 'whd' | 'inb' | 'msg' | 'txn' | 'dlv' | 'obx';

const TIME_CHARS = 8; // 62^8 ms ≈ 6,900 years from 1970
const RANDOM_CHARS = 14; // ≈ 83 bits

/** `ms` as TIME_CHARS base62 digits, most significant first (so the text sorts like the number). */
export function base62Time(ms: number): string {
  let out = '';
  let rest = Math.max(0, Math.floor(ms));
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/**
 * A prefixed id such as `ver_0Wb5TfQy3kTz…`: 8 base62 characters of creation time in milliseconds,
 * then 14 random ones (≈ 83 bits). Ids of one type sort by creation time, so new rows land at the
 * end of every index keyed by id instead of on a random page: a random key costs the embedded store
 * one more dirty page (and one more 4 KiB WAL write) per index per insert.
 */
export function newId(prefix: IdPrefix, random: Random, nowMs: number = Date.now()): string {
  return `${prefix}_${base62Time(nowMs)}${base62(random, RANDOM_CHARS)}`;
}

/** The creation time (ms) written into an id by newId. */
export function idTime(id: string): number {
  const body = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 1 + TIME_CHARS);
  let ms = 0;
  for (const char of body) ms = ms * 62 + ALPHABET.indexOf(char);
  return ms;
}
