import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';

let rt: TestRuntime;
let key: string;
beforeAll(async () => {
  rt = await startRuntime();
  key = (await createIntegration(rt.app)).testKey;
});
afterAll(async () => rt.dispose());

it.each(['valueOf', 'toString', 'constructor', 'hasOwnProperty', '__proto__'])('a body field named %s is a 400 validation-error, not a 500', async (name) => {
  for (const url of ['/v1/verifications', '/v1/verifications/check', '/v1/identities', '/v1/authorize']) {
    const res = await api(rt.app, key).post(url, `{"${name}": false}`, { 'content-type': 'application/json' });
    expect(res.statusCode, `${url} ${res.body}`).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().type).toBe('validation-error');
  }
});
