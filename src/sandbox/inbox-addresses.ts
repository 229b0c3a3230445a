import type { Random } from '../domain/clock.js';

/**
 * Where a sandbox inbox can be reached. Phones come from ranges the country's regulator keeps for
 * fiction (film, TV, books): they are never assigned to anyone, so a test-mode code "sent" there can
 * reach no real person, and libphonenumber (otpgate's own validation) accepts each of them
 * (inbox-addresses.test.ts parses every one). Emails get a random local part at the sandbox domain
 * (OTPGATE_SANDBOX_DOMAIN, default `sandbox.otpgate.test`: `.test` is reserved by RFC 2606).
 *
 * Ranges (national format):
 * - US, CA: NANPA's fictitious 555-0100 to 555-0199, in a few area codes of each country;
 * - GB: Ofcom's drama numbers, 020 7946 0000–0999 and 0113/0121/0131/0141/0161 496 0000–0999
 *   (Ofcom's mobile drama range, 07700 900xxx, is refused by libphonenumber, so none is a mobile);
 * - AU: ACMA's fictitious mobiles 0491 570 006–159, 0491 571 266–491, 0491 572 549–665;
 * - SE: PTS's fictitious mobiles 070-174 06 05 to 070-174 06 99;
 * - FR: the first thousand of each of ARCEP's geographic blocks for fiction, 01 99 00 0x xx,
 *   02 61 91 0x xx, 03 53 01 0x xx, 04 65 71 0x xx, 05 36 49 0x xx (the mobile block, 06 39 98, is
 *   refused by libphonenumber).
 * Brazil, Mexico, India, Indonesia, Spain, Portugal and Germany publish no such range that we could
 * find; a phone inbox there is refused (422) rather than given a number a real person may hold.
 * Rent a real number from the operator's pool (`source: "pool"`) instead.
 */

/** A block of consecutive numbers: `prefix` (E.164 without the last `width` digits) and the range of those digits. */
interface Block {
  prefix: string;
  from: number;
  to: number; // inclusive
  width: number;
}

const nanp = (areas: number[]): Block[] => areas.map((area) => ({ prefix: `+1${area}5550`, from: 100, to: 199, width: 3 }));

const RANGES: Record<string, Block[]> = {
  US: nanp([201, 202, 212, 213, 305, 312, 415, 617, 702, 718]),
  CA: nanp([416, 514, 604, 613, 403, 780]),
  GB: [
    { prefix: '+44207946', from: 0, to: 999, width: 4 },
    ...[113, 121, 131, 141, 161].map((area) => ({ prefix: `+44${area}496`, from: 0, to: 999, width: 4 })),
  ],
  AU: [
    { prefix: '+61491570', from: 6, to: 159, width: 3 },
    { prefix: '+61491571', from: 266, to: 491, width: 3 },
    { prefix: '+61491572', from: 549, to: 665, width: 3 },
  ],
  SE: [{ prefix: '+46701740', from: 605, to: 699, width: 3 }],
  FR: ['+3319900', '+3326191', '+3335301', '+3346571', '+3353649'].map((prefix) => ({ prefix, from: 0, to: 999, width: 4 })),
};

/** Countries (ISO 3166-1 alpha-2) with a fictitious range, for the 422's detail and the docs. */
export const FICTITIOUS_COUNTRIES: readonly string[] = Object.keys(RANGES).sort();

/** Every number a country's blocks hold (tests check each one parses). */
export function allFictitiousNumbers(country: string): string[] {
  return (RANGES[country] ?? []).flatMap((b) => Array.from({ length: b.to - b.from + 1 }, (_, i) => `${b.prefix}${String(b.from + i).padStart(b.width, '0')}`));
}

/** A random fictitious number of `country` (upper-case ISO code), or null when it has no range. */
export function fictitiousNumber(country: string, random: Random): string | null {
  const blocks = RANGES[country];
  if (!blocks) return null;
  const sizes = blocks.map((b) => b.to - b.from + 1);
  let pick = random.int(0, sizes.reduce((a, b) => a + b, 0));
  for (const [i, block] of blocks.entries()) {
    const size = sizes[i] as number;
    if (pick < size) return `${block.prefix}${String(block.from + pick).padStart(block.width, '0')}`;
    pick -= size;
  }
  return null;
}

const LOCAL_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // no 0/o, 1/l: readable when read aloud

/** A random address at the sandbox domain: 12 characters (60 bits) of local part. */
export function sandboxEmail(domain: string, random: Random): string {
  let local = '';
  for (const byte of random.bytes(12)) local += LOCAL_ALPHABET[byte % LOCAL_ALPHABET.length];
  return `inbox-${local}@${domain}`;
}
