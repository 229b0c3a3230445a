/**
 * The policy form, drawn from the API's own request schema (src/domain/policy-schema.ts) so it has
 * every field with the limits the server checks, and previewed with the server's own merge
 * (src/domain/policy.ts effectivePolicy). Only fields that differ from the baseline are sent, as a
 * partial policy; the server validates again and its `errors{}` land on the fields.
 */
import { PolicyPatchSchema } from '../../src/domain/policy-schema.js';
import { effectivePolicy, type TrustLevel } from '../../src/domain/policy.js';
import { field, h, setFieldError } from './dom.js';

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  patternProperties?: Record<string, Schema>;
  anyOf?: Schema[];
  const?: unknown;
  items?: Schema;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  uniqueItems?: boolean;
  pattern?: string;
  description?: string;
}

type Read = { ok: true; value: unknown } | { ok: false; error: string };

interface Leaf {
  path: string[];
  control: HTMLInputElement | HTMLSelectElement;
  set(value: unknown): void;
  read(): Read;
}

const LABELS: Record<string, string> = { require_otp_for: 'Actions that require an OTP session', otp_enabled: 'OTP enabled', ttl_s: 'TTL (s)' };
/** `resend_cooldown_s` → "Resend cooldown (s)", `ttl_s` → "TTL (s)". */
const label = (key: string): string => {
  if (LABELS[key]) return LABELS[key];
  const text = key.replace(/_s$/, ' (s)').replaceAll('_', ' ').replace(/\botp\b/g, 'OTP');
  return text.charAt(0).toUpperCase() + text.slice(1);
};
const list = (text: string): string[] => text.split(',').map((s) => s.trim()).filter(Boolean);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function get(obj: unknown, path: string[]): unknown {
  return path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}
function setIn(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let o = obj;
  for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
  o[path[path.length - 1]!] = value;
}

function checkNumber(s: Schema, text: string, integer: boolean): Read {
  if (text.trim() === '') return { ok: false, error: 'Required.' };
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return { ok: false, error: integer ? 'A whole number.' : 'A number.' };
  if ((s.minimum !== undefined && n < s.minimum) || (s.maximum !== undefined && n > s.maximum)) return { ok: false, error: `Between ${s.minimum ?? '−∞'} and ${s.maximum ?? '∞'}.` };
  return { ok: true, value: n };
}

function checkList(s: Schema, text: string): Read {
  const items = list(text);
  const item = s.items ?? {};
  const allowed = item.anyOf?.map((a) => a.const as string);
  for (const i of items) {
    if (allowed && !allowed.includes(i)) return { ok: false, error: `“${i}” is not one of ${allowed.join(', ')}.` };
    if (item.pattern && !new RegExp(item.pattern).test(i)) return { ok: false, error: `“${i}” is not valid.` };
  }
  if (s.uniqueItems && new Set(items).size !== items.length) return { ok: false, error: 'Each value once.' };
  if (s.minItems !== undefined && items.length < s.minItems) return { ok: false, error: `At least ${s.minItems}.` };
  if (s.maxItems !== undefined && items.length > s.maxItems) return { ok: false, error: `At most ${s.maxItems}.` };
  return { ok: true, value: items };
}

function leafFor(path: string[], s: Schema, baseline: () => unknown): { el: HTMLElement; leaf: Leaf } {
  const name = label(path[path.length - 1]!);
  const hint = s.description;
  const variants = s.anyOf ?? [];
  const nullable = variants.some((v) => v.type === 'null');
  const inner = nullable ? variants.find((v) => v.type !== 'null')! : s;
  // One of some strings → a select.
  if (variants.length > 0 && variants.every((v) => v.const !== undefined)) {
    const sel = h('select', {}, variants.map((v) => h('option', { value: String(v.const) }, String(v.const))));
    return { el: field(name, sel, hint), leaf: { path, control: sel, set: (v) => (sel.value = String(v)), read: () => ({ ok: true, value: sel.value }) } };
  }
  if (inner.type === 'boolean') {
    const box = h('input', { type: 'checkbox' });
    const el = h('div', { class: 'field checkbox' }, box, h('label', {}, name), hint ? h('small', {}, hint) : null);
    box.id = `p-${path.join('-')}`;
    el.querySelector('label')!.setAttribute('for', box.id);
    return { el, leaf: { path, control: box, set: (v) => (box.checked = v === true), read: () => ({ ok: true, value: box.checked }) } };
  }
  const input = h('input', { type: 'text', name: path.join('.') });
  input.id = `p-${path.join('-')}`;
  let read: () => Read;
  let set: (v: unknown) => void = (v) => (input.value = v === null || v === undefined ? '' : String(v));
  if (inner.type === 'integer' || inner.type === 'number') {
    input.type = 'number';
    if (inner.minimum !== undefined) input.min = String(inner.minimum);
    if (inner.maximum !== undefined) input.max = String(inner.maximum);
    input.step = inner.type === 'integer' ? '1' : 'any';
    read = () => (nullable && input.value.trim() === '' ? { ok: true, value: null } : checkNumber(inner, input.value, inner.type === 'integer'));
  } else if (inner.type === 'array') {
    set = (v) => (input.value = Array.isArray(v) ? v.join(', ') : '');
    read = () => {
      if (input.value.trim() === '') return nullable ? { ok: true, value: null } : (inner.minItems ?? 0) > 0 ? { ok: false, error: 'Required.' } : { ok: true, value: [] };
      return checkList(inner, input.value);
    };
  } else if (inner.type === 'object' && inner.patternProperties) {
    // Action → needs an OTP session: listed actions are gated, the baseline's others are not.
    const keyPattern = new RegExp(Object.keys(inner.patternProperties)[0]!);
    set = (v) => (input.value = Object.entries((v ?? {}) as Record<string, boolean>).filter(([, on]) => on).map(([k]) => k).join(', '));
    read = () => {
      const on = list(input.value);
      const bad = on.find((k) => !keyPattern.test(k));
      if (bad) return { ok: false, error: `“${bad}” is not an action name (a-z, 0-9, _).` };
      const out: Record<string, boolean> = {};
      for (const k of Object.keys((baseline() ?? {}) as Record<string, boolean>)) out[k] = false;
      for (const k of on) out[k] = true;
      if (inner.maxProperties !== undefined && Object.keys(out).length > inner.maxProperties) return { ok: false, error: `At most ${inner.maxProperties} actions.` };
      return { ok: true, value: out };
    };
  } else {
    if (inner.pattern) input.pattern = inner.pattern;
    read = () => {
      const text = input.value.trim();
      if (text === '') return nullable ? { ok: true, value: null } : { ok: false, error: 'Required.' };
      if (inner.pattern && !new RegExp(inner.pattern).test(text)) return { ok: false, error: 'Not in the expected format.' };
      return { ok: true, value: text };
    };
  }
  const f = field(name, input, [hint, nullable ? 'Empty: none.' : '', inner.type === 'array' || inner.patternProperties ? 'Comma-separated.' : ''].filter(Boolean).join(' '));
  return { el: f, leaf: { path, control: input, set, read } };
}

export interface PolicyForm {
  element: HTMLElement;
  /** Shows `policy` in the form and makes it the baseline (nothing differs). */
  load(policy: Record<string, unknown>): void;
  /** Shows `policy` in the form, keeping the baseline (what differs is sent). */
  show(policy: Record<string, unknown>): void;
  /** The fields that differ from the baseline, as a partial policy; null (errors shown) when a field is not valid. */
  patch(): Record<string, unknown> | null;
  /** Puts the server's `errors{}` (`policy.code.length: [...]`) on the fields; true when one landed. */
  showServerErrors(errors: Record<string, string[]>): boolean;
}

export const PRESETS: Array<{ id: string; name: string; patch: Record<string, unknown> }> = [
  { id: 'defaults', name: 'Defaults', patch: {} },
  { id: 'high-security', name: 'High security', patch: { code: { length: 8, ttl_s: 180 }, checks: { max_attempts: 3, on_wrong_code: 'restart' }, lockout: { max_failures: 5, window_s: 3600, duration_s: 3600 }, require_signed_requests: true, fraud_guard: 'block' } },
  { id: 'low-friction', name: 'Low friction', patch: { code: { length: 4, ttl_s: 600 }, checks: { max_attempts: 10 }, limits: { resend_cooldown_s: 15 }, session: { ttl_s: 7200 } } },
  { id: 'email-only', name: 'Email only', patch: { channels: ['email'] } },
];

/** The effective policy of a trust level with a preset applied (what the server would compute). */
export function presetPolicy(trust: TrustLevel, patch: Record<string, unknown>): Record<string, unknown> {
  return effectivePolicy(trust, patch as never) as unknown as Record<string, unknown>;
}

export function policyForm(): PolicyForm {
  const leaves: Leaf[] = [];
  let baseline: Record<string, unknown> = {};
  const build = (schema: Schema, path: string[]): HTMLElement[] =>
    Object.entries(schema.properties ?? {}).map(([key, s]) => {
      const p = [...path, key];
      if (s.type === 'object' && s.properties) {
        return h('fieldset', {}, h('legend', {}, label(key)), ...build(s, p));
      }
      const { el, leaf } = leafFor(p, s, () => get(baseline, p));
      leaves.push(leaf);
      return el;
    });
  const element = h('div', { class: 'policy-form' }, ...build(PolicyPatchSchema as unknown as Schema, []));
  return {
    element,
    load(policy) {
      baseline = JSON.parse(JSON.stringify(policy)) as Record<string, unknown>;
      for (const leaf of leaves) {
        leaf.set(get(policy, leaf.path));
        setFieldError(leaf.control, '');
      }
    },
    show(policy) {
      for (const leaf of leaves) {
        leaf.set(get(policy, leaf.path));
        setFieldError(leaf.control, '');
      }
    },
    patch() {
      const out: Record<string, unknown> = {};
      let valid = true;
      for (const leaf of leaves) {
        const r = leaf.read();
        setFieldError(leaf.control, r.ok ? '' : r.error);
        if (!r.ok) {
          if (valid) leaf.control.focus();
          valid = false;
          continue;
        }
        if (!same(r.value, get(baseline, leaf.path))) setIn(out, leaf.path, r.value);
      }
      return valid ? out : null;
    },
    showServerErrors(errors) {
      let landed = false;
      for (const [key, codes] of Object.entries(errors)) {
        const leaf = leaves.find((l) => key === `policy.${l.path.join('.')}` || key.startsWith(`policy.${l.path.join('.')}.`));
        if (leaf) {
          setFieldError(leaf.control, `Refused by the server: ${codes.join(', ')}.`);
          landed = true;
        }
      }
      return landed;
    },
  };
}
