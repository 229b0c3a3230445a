import { describe, expect, it } from 'vitest';
import { api, createIntegration } from '../helpers/runtime.js';
import {
  codeOf,
  expectJson,
  expectProblem,
  getVerification,
  sandboxMessages,
  send,
  sendAndCapture,
  useRuntime,
  wrongCode,
  type CheckBody,
  type ProblemBody,
  type VerificationBody,
} from './support.js';

const CHECK = '/v1/verifications/check';
const SEND = '/v1/verifications';

/**
 * One mailbox, many spellings: local-part case and `+tags` reach the same inbox, so counts, locks
 * and "the pending verification" go by the canonical key while the code goes to the address given.
 */
describe('one mailbox under many spellings (over HTTP)', () => {
  const runtime = useRuntime();

  it('counts every spelling against one send limit, and a new spelling supersedes the pending code', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 2 } } });
    const first = await send(rt.app, key, { identifier: 'victim@example.com' });
    const second = await send(rt.app, key, { identifier: 'VICTIM+1@Example.com' });
    // Delivered and shown as given (the domain is normalised, as ever); no mailbox is rewritten.
    expect(second.identifier).toBe('VICTIM+1@example.com');
    const code = await codeOf(rt, key, second.id);
    const delivered = (await sandboxMessages(rt, key)).filter((m) => m.verification_id === second.id);
    expect(delivered.map((m) => m.to)).toEqual(['VICTIM+1@example.com']);
    // The first was superseded by the second although spelt differently.
    expect(await getVerification(rt.app, key, first.id)).toMatchObject({ status: 'canceled', failure_reason: 'superseded' });
    expect(await getVerification(rt.app, key, second.id)).toMatchObject({ status: 'pending' });
    // A third spelling within the minute is over the shared limit.
    expectProblem(await api(rt.app, key).post(SEND, { identifier: 'Victim+2@EXAMPLE.com' }), 429, 'rate-limit-exceeded');
    // A check under yet another spelling finds the latest verification, and approves it.
    const body = expectJson<CheckBody>(await api(rt.app, key).post(CHECK, { identifier: 'victim+other@example.com', code }), 200);
    expect(body).toMatchObject({ status: 'approved', verification_id: second.id, identifier: 'VICTIM+1@example.com' });
  });

  it('gives 45 spellings of one mailbox the codes of one (send_per_minute), with one pending verification', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app); // send_per_minute 3
    const spellings = Array.from({ length: 45 }, (_, i) => {
      const local = i % 2 ? 'many.spellings' : 'MANY.Spellings';
      return `${local}${i % 3 ? `+t${i}` : ''}@Example.com`;
    });
    const answers = await Promise.all(spellings.map((identifier) => api(rt.app, key).post(SEND, { identifier })));
    const accepted = answers.filter((r) => r.statusCode === 201).map((r) => r.json() as VerificationBody);
    expect(accepted).toHaveLength(3);
    for (const r of answers.filter((a) => a.statusCode !== 201)) expectProblem(r, 429, 'rate-limit-exceeded');
    const states = await Promise.all(accepted.map((v) => getVerification(rt.app, key, v.id)));
    expect(states.filter((v) => v.status === 'pending')).toHaveLength(1);
  });

  it('counts checks under every spelling against one check limit', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, { policy: { limits: { check_per_minute: 2 }, lockout: { max_failures: 100 } } });
    const { code } = await sendAndCapture(rt, key, { identifier: 'checks@example.com' });
    expectProblem(await api(rt.app, key).post(CHECK, { identifier: 'checks@example.com', code: wrongCode(code) }), 401, 'invalid-code');
    expectProblem(await api(rt.app, key).post(CHECK, { identifier: 'CHECKS+a@example.com', code: wrongCode(code) }), 401, 'invalid-code');
    expectProblem(await api(rt.app, key).post(CHECK, { identifier: 'Checks+b@Example.COM', code }), 429, 'rate-limit-exceeded');
  });

  it('locks every spelling once wrong codes spread over spellings reach lockout.max_failures', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, {
      policy: { lockout: { max_failures: 3, duration_s: 900 }, checks: { max_attempts: 10 }, limits: { check_per_minute: 100, send_per_minute: 100 } },
    });
    const { verification, code } = await sendAndCapture(rt, key, { identifier: 'locked@example.com' });
    const answers: ProblemBody[] = [];
    for (const identifier of ['locked@example.com', 'LOCKED@example.com', 'Locked+x@Example.com']) {
      answers.push(expectProblem(await api(rt.app, key).post(CHECK, { identifier, code: wrongCode(code) }), 401, 'invalid-code'));
    }
    // Each spelling found the one verification: its attempts count down together.
    expect(answers.map((a) => a.attempts_remaining)).toEqual([9, 8, 7]);
    expect(answers[2]?.identifier_locked).toBe(true);
    for (const identifier of ['locked@example.com', 'LOCKED@EXAMPLE.COM', 'locked+y@example.com']) {
      expectProblem(await api(rt.app, key).post(CHECK, { identifier, code }), 429, 'identifier-locked');
      expectProblem(await api(rt.app, key).post(SEND, { identifier }), 429, 'identifier-locked');
    }
    expectProblem(await api(rt.app, key).post(CHECK, { verification_id: verification.id, code }), 429, 'identifier-locked');
    expect(await getVerification(rt.app, key, verification.id)).toMatchObject({ status: 'pending', attempts: 3 });
  });

  it('locks `VICTIM@` when `victim@` is locked', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, { policy: { lockout: { max_failures: 2 }, limits: { check_per_minute: 100 } } });
    const { code } = await sendAndCapture(rt, key, { identifier: 'victim@example.org' });
    for (let i = 0; i < 2; i++) expectProblem(await api(rt.app, key).post(CHECK, { identifier: 'victim@example.org', code: wrongCode(code) }), 401, 'invalid-code');
    expectProblem(await api(rt.app, key).post(SEND, { identifier: 'VICTIM@example.org' }), 429, 'identifier-locked');
    expectProblem(await api(rt.app, key).post(CHECK, { identifier: 'VICTIM@example.org', code }), 429, 'identifier-locked');
  });

  it('keeps distinct mailboxes distinct, and a leading `+` is a name, not a tag', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 1 } } });
    await send(rt.app, key, { identifier: 'alice@example.com' });
    await send(rt.app, key, { identifier: 'alice@example.net' });
    await send(rt.app, key, { identifier: 'alice.b@example.com' });
    await send(rt.app, key, { identifier: '+alice@example.com' });
    expectProblem(await api(rt.app, key).post(SEND, { identifier: '+ALICE@example.com' }), 429, 'rate-limit-exceeded');
  });

  it('leaves phones keyed as before: one number, however typed', async () => {
    const rt = runtime();
    const { testKey: key } = await createIntegration(rt.app, { policy: { limits: { send_per_minute: 1 } } });
    await send(rt.app, key, { identifier: '+5511987650011' });
    expectProblem(await api(rt.app, key).post(SEND, { identifier: '+55 (11) 98765-0011' }), 429, 'rate-limit-exceeded');
    await send(rt.app, key, { identifier: '+5511987650012' });
  });
});
