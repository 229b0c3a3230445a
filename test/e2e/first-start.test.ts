import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCode, request, sendCode, waitForCode } from './client.js';
import { makeDataDir, startServer, useServers } from './server.js';

useServers();

/** The pino JSON lines among the output (the banner lines are plain text). */
function logLines(output: string): string[] {
  return output.split('\n').filter((line) => line.trimStart().startsWith('{'));
}

/** `code` as a whole number in `text` (not a substring of a longer digit run such as a timestamp). */
const containsCode = (text: string, code: string): boolean => new RegExp(`(?<![0-9])${code}(?![0-9])`).test(text);

describe('first start on an empty data dir (as `npm start` runs it)', () => {
  it('prints a demo key and an admin token once; both work; a restart keeps them and prints no new key; no secret or code leaks into the logs', async () => {
    const dataDir = makeDataDir();
    // No OTPGATE_ADMIN_TOKEN: the server must generate one. `info` is the level `npm start` logs at
    // when nothing is set, so request logs are there to be searched for leaks.
    const first = await startServer({ dataDir, adminToken: null, env: { OTPGATE_LOG_LEVEL: 'info' } });

    const keyMatch = /\b(otpg_test_[0-9A-Za-z]+)/.exec(first.stdout());
    expect(keyMatch, `stdout:\n${first.stdout()}`).not.toBeNull();
    const demoKey = keyMatch?.[1] as string;
    const tokenMatch = /admin token:\s+(\S+)/.exec(first.stdout());
    expect(tokenMatch, `stdout:\n${first.stdout()}`).not.toBeNull();
    const adminToken = tokenMatch?.[1] as string;
    expect(adminToken.length).toBeGreaterThanOrEqual(16);

    const tokenFile = join(dataDir, 'admin-token');
    expect(existsSync(tokenFile)).toBe(true);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(adminToken);

    const list = await request(first, 'GET', '/admin/v1/integrations', { bearer: adminToken });
    expect(list.status).toBe(200);
    const integrations = list.body.data as { id: string; name: string }[];
    expect(integrations).toHaveLength(1);
    expect(integrations[0]?.name).toBe('Demo');
    expect((await request(first, 'GET', '/admin/v1/integrations', { bearer: 'not-the-admin-token-at-all' })).status).toBe(401);

    const phone = '+5511987654321';
    const sent = await sendCode(first, demoKey, phone);
    expect(sent.status, sent.text).toBe(201);
    expect(sent.body.status).toBe('pending');
    const code = await waitForCode(first, demoKey, phone, 5_000);
    expect(code).toMatch(/^[0-9]{4,10}$/);

    // A wrong key and the right key as a Bearer token: neither may show up in the logs.
    expect((await request(first, 'GET', '/v1/policy', { key: 'otpg_test_00000000000000000000000000000000' })).status).toBe(401);
    expect((await request(first, 'GET', '/v1/policy', { bearer: demoKey })).status).toBe(200);

    const checked = await checkCode(first, demoKey, phone, code);
    expect(checked.status, checked.text).toBe(200);
    expect(checked.body.status).toBe('approved');
    expect(checked.body.otp_session).toEqual(expect.any(String));
    expect(checked.body.verification_id).toBe(sent.body.id);

    expect((await first.stop('SIGTERM')).code).toBe(0);

    // Second start on the same data dir, still without OTPGATE_ADMIN_TOKEN.
    const second = await startServer({ dataDir, adminToken: null, env: { OTPGATE_LOG_LEVEL: 'info' } });
    expect(second.stdout()).not.toMatch(/otpg_test_/);
    expect(second.stdout()).not.toMatch(/admin token:/);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(adminToken);

    const again = await request(second, 'GET', '/admin/v1/integrations', { bearer: adminToken });
    expect(again.status).toBe(200);
    expect((again.body.data as unknown[]).length).toBe(1);

    const other = '+5511987654322';
    const resent = await sendCode(second, demoKey, other);
    expect(resent.status, resent.text).toBe(201);
    const code2 = await waitForCode(second, demoKey, other, 5_000);
    const checked2 = await checkCode(second, demoKey, other, code2);
    expect(checked2.status, checked2.text).toBe(200);

    // Let the last log lines flush before reading the output.
    expect((await second.stop('SIGTERM')).code).toBe(0);

    const stdout = first.stdout() + second.stdout();
    const logs = [...logLines(first.stdout()), ...logLines(first.stderr()), ...logLines(second.stdout()), ...logLines(second.stderr())];
    expect(logs.length, 'the server logged requests at info level').toBeGreaterThan(0);
    for (const c of [code, code2]) expect(containsCode(stdout, c), `the OTP ${c} appears on stdout`).toBe(false);
    for (const line of logs) {
      expect(line).not.toContain(demoKey);
      expect(line).not.toContain(adminToken);
      expect(line).not.toContain(checked.body.otp_session as string);
      for (const c of [code, code2]) expect(containsCode(line, c), `the OTP ${c} appears in a log line: ${line}`).toBe(false);
    }
  }, 90_000);
});
