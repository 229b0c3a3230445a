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

/** A prefixed id such as `ver_3kTz…` (22 base62 characters ≈ 131 bits). */
export function newId(prefix: IdPrefix, random: Random): string {
  return `${prefix}_${base62(random, 22)}`;
}
