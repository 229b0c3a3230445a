import { Script, createContext } from 'node:vm';

/**
 * An inbox's own code pattern (`regex` on create), which overrides the default extractor. It is
 * the integrator's text, so it is checked when the inbox is created and run under a time budget:
 * a pattern that backtracks catastrophically (`^(a+)+$` on "aaaa…!") is cut off and the message is
 * still stored, with no code.
 *
 * The code is the named group `code`, else the first capture group, else the whole match; trimmed,
 * at most MAX_CODE_LENGTH characters.
 */
export const MAX_PATTERN_LENGTH = 256;
export const MAX_CODE_LENGTH = 64;

export type PatternError = 'too_long' | 'syntax' | 'matches_empty' | 'too_slow';

// One sandbox context for every run: the pattern and the text go in as globals, and the script
// leaves only strings behind (no object of the other realm escapes). vm's `timeout` interrupts V8's
// regular expression engine mid-backtrack (it checks for interrupts), which is what a budget needs.
const context = createContext(Object.create(null) as object);
const runner = new Script(
  `(() => { const m = new RegExp(pattern).exec(text); if (m === null) return null;
     const g = m.groups && 'code' in m.groups ? m.groups.code : m.length > 1 ? m[1] : m[0];
     return typeof g === 'string' ? g : null; })()`,
  { filename: 'inbox-regex' },
);
const tester = new Script('new RegExp(pattern).test(text)', { filename: 'inbox-regex-test' });

type Outcome = { ok: true; match: unknown } | { ok: false; reason: 'too_slow' | 'syntax' };

function run(script: Script, pattern: string, text: string, timeoutMs: number): Outcome {
  const globals = context as Record<string, unknown>;
  globals.pattern = pattern;
  globals.text = text;
  try {
    const result: unknown = script.runInContext(context, { timeout: timeoutMs, breakOnSigint: false });
    return { ok: true, match: result };
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    return { ok: false, reason: code === 'ERR_SCRIPT_EXECUTION_TIMEOUT' ? 'too_slow' : 'syntax' };
  } finally {
    globals.pattern = undefined;
    globals.text = undefined;
  }
}

// Compiled once at load, with time to spare, so a message's first run is not charged for it.
run(runner, 'x', 'x', 5_000);
run(tester, 'x', 'x', 5_000);

/** The budget of the creation-time check: it runs on the empty string, so only a loaded machine makes it slow. */
const VALIDATION_MIN_MS = 250;

/** Checks a pattern at creation: short, valid JavaScript syntax, and never matching the empty string. */
export function validatePattern(pattern: string, timeoutMs: number): PatternError | null {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) return 'too_long';
  try {
    new RegExp(pattern); // compiling is linear in the pattern's length: safe outside the sandbox
  } catch {
    return 'syntax';
  }
  const empty = run(tester, pattern, '', Math.max(timeoutMs, VALIDATION_MIN_MS));
  if (!empty.ok) return empty.reason;
  return empty.match === true ? 'matches_empty' : null;
}

export type PatternResult = { code: string | null; timedOut: boolean };

/** The code the pattern finds in `text`, within `timeoutMs`; a pattern that runs out of time finds none. */
export function extractWithPattern(pattern: string, text: string, timeoutMs: number): PatternResult {
  const outcome = run(runner, pattern, text, timeoutMs);
  if (!outcome.ok) return { code: null, timedOut: outcome.reason === 'too_slow' };
  const code = typeof outcome.match === 'string' ? outcome.match.trim() : '';
  return { code: code === '' ? null : code.slice(0, MAX_CODE_LENGTH), timedOut: false };
}
