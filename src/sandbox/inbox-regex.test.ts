import { describe, expect, it } from 'vitest';
import { extractWithPattern, MAX_PATTERN_LENGTH, validatePattern } from './inbox-regex.js';

describe('inbox regex', () => {
  it('validates: length, syntax, and never matching the empty string', () => {
    expect(validatePattern('code: (\\d{6})', 50)).toBeNull();
    expect(validatePattern('', 50)).toBe('too_long');
    expect(validatePattern('a'.repeat(MAX_PATTERN_LENGTH + 1), 50)).toBe('too_long');
    expect(validatePattern('(unclosed', 50)).toBe('syntax');
    expect(validatePattern('[z-a]', 50)).toBe('syntax');
    expect(validatePattern('\\d*', 50)).toBe('matches_empty');
    expect(validatePattern('(?<code>x)?', 50)).toBe('matches_empty');
  });

  it('takes the named group `code`, else the first group, else the whole match', () => {
    expect(extractWithPattern('(?<pre>G)-(?<code>\\d{5})', 'Your code is G-12345', 50)).toEqual({ code: '12345', timedOut: false });
    expect(extractWithPattern('PIN (\\w+)', 'Your PIN AB12 expires', 50)).toEqual({ code: 'AB12', timedOut: false });
    expect(extractWithPattern('[A-Z]{3}-\\d{3}', 'token XYZ-123 now', 50)).toEqual({ code: 'XYZ-123', timedOut: false });
    expect(extractWithPattern('nope(\\d+)', 'Your code 123456', 50)).toEqual({ code: null, timedOut: false });
    // An optional group that did not take part falls back to no code, not "undefined".
    expect(extractWithPattern('code(:\\d+)?', 'code here', 50)).toEqual({ code: null, timedOut: false });
  });

  it('cuts a catastrophic pattern off within its budget and finds no code', () => {
    const hostile = `${'a'.repeat(40)}!`;
    const started = performance.now();
    const result = extractWithPattern('^(a+)+$', hostile, 50);
    const took = performance.now() - started;
    expect(result).toEqual({ code: null, timedOut: true });
    expect(took).toBeLessThan(2_000); // unbounded, this runs for hours
    // The sandbox still works after an interrupted run.
    expect(extractWithPattern('(\\d{4})', 'pin 4321', 50)).toEqual({ code: '4321', timedOut: false });
  });
});
