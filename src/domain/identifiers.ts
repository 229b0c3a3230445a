import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export type IdentifierKind = 'phone' | 'email' | 'cpf';

/** A normalised identifier. `country` is the ISO 3166 alpha-2 code for phones, null otherwise. */
export interface Identifier {
  kind: IdentifierKind;
  value: string;
  country: string | null;
  /** Phones: libphonenumber's type (MOBILE, FIXED_LINE, PREMIUM_RATE, SHARED_COST, …); null when no type's ranges hold the number (unassigned). */
  phoneType?: string | null;
}

export type IdentifierError = 'too_long' | 'invalid_phone' | 'invalid_email' | 'invalid_cpf' | 'unrecognized';

export type ParseIdentifierResult = { ok: true; identifier: Identifier } | { ok: false; error: IdentifierError };

const MAX_INPUT_LENGTH = 320;
const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_PART_LENGTH = 64;

// After the '+': digits and the usual separators only. Checked before libphonenumber sees the
// input, because it happily extracts numbers from free text and maps letters to keypad digits.
const PHONE_SHAPE = /^\+[0-9 ().-]+$/;
const CPF_SHAPE = /^\d{3}\.?\d{3}\.?\d{3}-?\d{2}$/;
// RFC 5322 dot-atom: atext runs separated by single dots (no leading/trailing/double dots).
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

const fail = (error: IdentifierError): ParseIdentifierResult => ({ ok: false, error });
const ok = (kind: IdentifierKind, value: string, country: string | null = null): ParseIdentifierResult => ({
  ok: true,
  identifier: { kind, value, country },
});

/** Classifies, validates and normalises a phone number, email address or CPF. Never throws. */
export function parseIdentifier(input: string): ParseIdentifierResult {
  if (typeof input !== 'string') return fail('unrecognized');
  const text = input.trim();
  if (text.length > MAX_INPUT_LENGTH) return fail('too_long');
  if (text.includes('@')) return parseEmail(text); // no phone holds an @, while `+tag@x.io` is an email
  if (text.startsWith('+')) return parsePhone(text);
  if (CPF_SHAPE.test(text)) return parseCpf(text);
  return fail('unrecognized');
}

/**
 * Recent phone parses, in two generations: when the young one is full it becomes the old one and the
 * previous old one is dropped whole (O(1); evicting one oldest entry at a time from a Map makes V8
 * walk the holes left at its head). A code is typically sent, then checked, for the same number
 * within minutes, and libphonenumber's parse and validation cost more than the rest of a check.
 */
const PHONE_MEMO_GENERATION = 25_000;
let youngPhones = new Map<string, ParseIdentifierResult>();
let oldPhones = new Map<string, ParseIdentifierResult>();

function parsePhone(text: string): ParseIdentifierResult {
  const known = youngPhones.get(text) ?? oldPhones.get(text);
  if (known) return known;
  const result = parsePhoneUncached(text);
  if (result.ok) Object.freeze(result.identifier); // shared by every caller from now on
  Object.freeze(result);
  if (youngPhones.size >= PHONE_MEMO_GENERATION) {
    oldPhones = youngPhones;
    youngPhones = new Map();
  }
  youngPhones.set(text, result);
  return result;
}

function parsePhoneUncached(text: string): ParseIdentifierResult {
  if (!PHONE_SHAPE.test(text)) return fail('invalid_phone');
  try {
    const phone = parsePhoneNumberFromString(text, { extract: false });
    if (!phone) return fail('invalid_phone');
    // With the full ('max') metadata, isValid() is "some type's ranges hold the number": it runs the
    // same type search as getType(). A type found is therefore a valid number; isValid() is asked only
    // when none is (a country without type metadata validates by its general pattern).
    const type = phone.getType();
    if (type === undefined && !phone.isValid()) return fail('invalid_phone');
    // Non-geographic numbers (e.g. +800) have no country.
    const result = ok('phone', phone.number, phone.country ?? null);
    if (result.ok) result.identifier.phoneType = type ?? null;
    return result;
  } catch {
    return fail('invalid_phone');
  }
}

function parseEmail(text: string): ParseIdentifierResult {
  if (text.length > MAX_EMAIL_LENGTH) return fail('invalid_email');
  const parts = text.split('@');
  if (parts.length !== 2) return fail('invalid_email');
  const [local = '', rawDomain = ''] = parts;
  if (local.length > MAX_LOCAL_PART_LENGTH || !LOCAL_PART.test(local)) return fail('invalid_email');
  // Only ASCII passes the checks below, so toLowerCase cannot change the length or meaning.
  const domain = rawDomain.toLowerCase();
  const labels = domain.split('.');
  const tld = labels[labels.length - 1] ?? '';
  if (labels.length < 2 || !labels.every((label) => DOMAIN_LABEL.test(label)) || !TLD.test(tld)) {
    return fail('invalid_email');
  }
  return ok('email', `${local}@${domain}`);
}

function parseCpf(text: string): ParseIdentifierResult {
  const digits = text.replace(/[.-]/g, '');
  return isValidCpf(digits) ? ok('cpf', digits) : fail('invalid_cpf');
}

/** CPF check digit over the given digits: weights count down from length + 1 to 2. */
function cpfCheckDigit(digits: readonly number[]): number {
  const sum = digits.reduce((acc, digit, i) => acc + digit * (digits.length + 1 - i), 0);
  const remainder = (sum * 10) % 11;
  return remainder === 10 ? 0 : remainder;
}

/** True for 11 bare digits with correct check digits that are not all the same digit. */
export function isValidCpf(digits: string): boolean {
  if (typeof digits !== 'string' || !/^\d{11}$/.test(digits)) return false;
  // All-equal sequences pass the checksum but are well-known placeholder values.
  if (/^(\d)\1{10}$/.test(digits)) return false;
  const nums = Array.from(digits, Number);
  return cpfCheckDigit(nums.slice(0, 9)) === nums[9] && cpfCheckDigit(nums.slice(0, 10)) === nums[10];
}

/**
 * The key one mailbox (or number) is counted, locked and looked up by, whatever its spelling: for an
 * email the local part case-folded and its `+tag` removed (`Victim+x@Example.com` →
 * `victim@example.com`); a phone (E.164) or CPF (11 digits) is its own key. Takes a value as
 * `parseIdentifier` returns it (or already canonical: the function is idempotent). Codes are still
 * delivered to the address as given. A leading `+` (`+tag@x.io`) is the whole name, not a tag.
 */
export function canonicalIdentifier(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  const local = value.slice(0, at);
  const plus = local.indexOf('+', 1);
  // Only ASCII passes parseEmail, so toLowerCase is a plain case fold here.
  return `${(plus > 0 ? local.slice(0, plus) : local).toLowerCase()}@${value.slice(at + 1).toLowerCase()}`;
}

/** Log-safe rendering of an identifier: keeps just enough to tell identifiers apart. */
export function maskIdentifier(identifier: Identifier): string {
  const { kind, value } = identifier;
  if (kind === 'phone') {
    // '+' and two leading digits, then the tail; shorter numbers reveal a shorter tail.
    const tailLength = value.length >= 11 ? 4 : 2;
    const head = value.slice(0, 3);
    const hidden = Math.max(value.length - head.length - tailLength, 1);
    return `${head}${'*'.repeat(hidden)}${value.slice(-tailLength)}`;
  }
  if (kind === 'email') {
    const at = value.lastIndexOf('@');
    if (at < 0) return '***';
    const local = value.slice(0, at);
    // Fixed-width mask so the local part's length is not revealed either.
    const visible = local.length > 1 ? local.slice(0, 1) : '';
    return `${visible}***@${value.slice(at + 1)}`;
  }
  return `***.***.*${value.slice(7, 9)}-${value.slice(9, 11)}`;
}
