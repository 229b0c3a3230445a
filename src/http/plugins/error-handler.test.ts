import { describe, expect, it } from 'vitest';
import { fieldErrors } from './error-handler.js';

describe('fieldErrors', () => {
  it('maps Ajv errors to dotted fields with stable codes', () => {
    expect(
      fieldErrors([
        { keyword: 'required', instancePath: '', params: { missingProperty: 'identifier' } },
        { keyword: 'maximum', instancePath: '/policy/code/length', params: {} },
        { keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'foo' } },
      ]),
    ).toEqual({ identifier: ['required'], 'policy.code.length': ['out_of_range'], foo: ['unknown_field'] });
  });

  it('survives field names that shadow Object.prototype (found by fuzzing: {"valueOf": false} gave a 500)', () => {
    const out = fieldErrors(['valueOf', 'toString', '__proto__', 'constructor', 'hasOwnProperty'].map((name) => ({ keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: name } })));
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf']);
    expect(out.valueOf).toEqual(['unknown_field']);
    expect(JSON.parse(JSON.stringify(out))).toMatchObject({ valueOf: ['unknown_field'], toString: ['unknown_field'] });
  });
});
