import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createIntegration, latestCode, startRuntime, type TestRuntime } from '../helpers/runtime.js';

let rt: TestRuntime;
let key: string;
let n = 0;
const ref = (): string => `cust-${++n}-${Date.now()}`;
const mail = (): string => `person${++n}.${Date.now()}@example.com`;
const phone = (): string => `+55119${String(70_000_000 + ++n).slice(-8)}`;
/** A valid CPF (check digits computed), different each call. */
function cpf(): string {
  const base = String(100_000_000 + ((Date.now() + ++n * 7919) % 899_999_999)).slice(0, 9).split('').map(Number);
  const digit = (digits: number[]) => {
    const sum = digits.reduce((acc, d, i) => acc + d * (digits.length + 1 - i), 0);
    const r = (sum * 10) % 11;
    return r === 10 ? 0 : r;
  };
  const d1 = digit(base);
  const d2 = digit([...base, d1]);
  return [...base, d1, d2].join('');
}

beforeAll(async () => {
  rt = await startRuntime();
  // restart policy off, generous limits: these tests are about identities
  key = (await createIntegration(rt.app, { policy: { limits: { send_per_minute: 100, check_per_minute: 100 } } })).testKey;
});
afterAll(async () => rt.dispose());

const client = () => api(rt.app, key);
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
async function patch(reference: string, body: Record<string, unknown>) {
  return rt.app.inject({ method: 'PATCH', url: `/v1/identities/${encodeURIComponent(reference)}`, headers: { 'x-api-key': key }, payload: body });
}
/** Sends a code for `identifier` (optionally bound to an identity) and checks it; returns the check body. */
async function verify(identifier: string, identity_reference?: string): Promise<Record<string, unknown>> {
  const sent = await client().post('/v1/verifications', { identifier, ...(identity_reference ? { identity_reference } : {}) });
  expect(sent.statusCode).toBe(201);
  const res = await client().post('/v1/verifications/check', { identifier, code: await latestCode(rt, key, identifier) });
  expect(res.statusCode).toBe(200);
  return res.json() as Record<string, unknown>;
}

describe('identities', () => {
  it('creates a sparse identity from a reference alone, and refuses a taken reference with 409', async () => {
    const reference = ref();
    const res = await client().post('/v1/identities', { reference });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ reference, references: [reference], email: null, email_verified: false, phone: null, cpf: null, name: null });
    expect(res.json().id).toMatch(/^idn_/);
    const again = await client().post('/v1/identities', { reference, email: mail() });
    expect(again.statusCode).toBe(409);
    expect(again.json().type).toBe('conflict');
  });

  it('creates with email, phone, CPF and name (normalised, unverified) and gets it by reference', async () => {
    const reference = ref();
    const res = await client().post('/v1/identities', { reference, email: ' Ana@EXAMPLE.com ', phone: '+55 11 98765-0001', cpf: '529.982.247-25', name: 'Ana' });
    expect(res.statusCode).toBe(201);
    const got = await client().get(`/v1/identities/${reference}`);
    expect(got.json()).toMatchObject({ email: 'Ana@example.com', email_verified: false, email_verified_at: null, phone: '+5511987650001', phone_verified: false, cpf: '52998224725', name: 'Ana' });
    expect((await client().get(`/v1/identities/nobody-${ref()}`)).statusCode).toBe(404);
  });

  it('refuses fields of the wrong kind with 400 and stores nothing', async () => {
    const reference = ref();
    const res = await client().post('/v1/identities', { reference, email: '+5511987650001', cpf: '111.111.111-11' });
    expect(res.statusCode).toBe(400);
    expect(Object.keys(res.json().errors)).toEqual(expect.arrayContaining(['email', 'cpf']));
    expect((await client().get(`/v1/identities/${reference}`)).statusCode).toBe(404);
  });

  it('finds identities by phone, email and CPF', async () => {
    const email = mail();
    const number = phone();
    const reference = ref();
    const taxId = cpf();
    await client().post('/v1/identities', { reference, email, phone: number, cpf: taxId });
    const [local, domain] = email.split('@') as [string, string];
    for (const identifier of [`${local}@${domain.toUpperCase()}`, number, taxId]) {
      const res = await client().get(`/v1/identities?identifier=${encodeURIComponent(identifier)}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().data.map((i: { reference: string }) => i.reference)).toContain(reference);
    }
    expect((await client().get('/v1/identities?identifier=nope')).statusCode).toBe(400);
  });

  it('a changed email or phone is unverified again until a verification proves it', async () => {
    const reference = ref();
    const email = mail();
    await client().post('/v1/identities', { reference });
    await verify(email, reference);
    expect((await client().get(`/v1/identities/${reference}`)).json()).toMatchObject({ email, email_verified: true });
    const changed = await patch(reference, { email: mail(), name: 'New name' });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ email_verified: false, email_verified_at: null, name: 'New name' });
    const same = await patch(reference, { name: 'Again' });
    expect(same.json().name).toBe('Again');
    expect((await patch(`missing-${ref()}`, { name: 'x' })).statusCode).toBe(404);
  });
});

describe('verifications with identity_reference', () => {
  it('an unknown reference answers 422 invalid-identity-reference and sends nothing', async () => {
    const email = mail();
    const res = await client().post('/v1/verifications', { identifier: email, identity_reference: `ghost-${ref()}` });
    expect(res.statusCode).toBe(422);
    expect(res.json().type).toBe('invalid-identity-reference');
    await rt.worker.drain();
    expect((await client().get(`/v1/sandbox/messages?to=${encodeURIComponent(email)}`)).json().data).toEqual([]);
  });

  it('an approved check writes the verified email onto a sparse identity and returns it', async () => {
    const reference = ref();
    await client().post('/v1/identities', { reference });
    const email = mail();
    const body = await verify(email, reference);
    expect(body.identity).toMatchObject({ reference, email, email_verified: true });
    expect(typeof (body.identity as { email_verified_at: string }).email_verified_at).toBe('string');
    const number = phone();
    expect((await verify(number, reference)).identity).toMatchObject({ phone: number, phone_verified: true, email, email_verified: true });
  });

  it('the session carries the identity to /v1/authorize', async () => {
    const reference = ref();
    await client().post('/v1/identities', { reference });
    const body = await verify(mail(), reference);
    const res = await client().post('/v1/authorize', { action: 'redemption' }, { 'x-otp-session': body.otp_session as string });
    expect(res.json().session.identity).toMatchObject({ reference });
  });
});

describe('merging identities on a verified email', () => {
  it('moves the newer identity’s reference onto the older one, removes the newer, and records identity.merged', async () => {
    const email = mail();
    const older = ref();
    await client().post('/v1/identities', { reference: older, name: 'Older' });
    await verify(email, older);
    await tick();
    const newer = ref();
    const created = await client().post('/v1/identities', { reference: newer, name: 'Newer' });
    const newerId = created.json().id as string;
    const body = await verify(email, newer);
    expect(body.identity).toMatchObject({ reference: older, name: 'Older', email, email_verified: true });
    expect((body.identity as { references: string[] }).references).toEqual([older, newer]);
    const viaNewer = await client().get(`/v1/identities/${newer}`);
    expect(viaNewer.json()).toMatchObject({ reference: older, name: 'Older' });
    expect(await rt.store.db.selectFrom('identities').select('id').where('id', '=', newerId).executeTakeFirst()).toBeUndefined();
    const events = await rt.store.db.selectFrom('events').selectAll().where('type', '=', 'identity.merged').execute();
    const event = events.map((e) => JSON.parse(e.data_json) as Record<string, unknown>).find((d) => d.merged_id === newerId);
    expect(event).toMatchObject({ survivor_id: (body.identity as { id: string }).id, merged_id: newerId, references_moved: [newer], email });
  });

  it('the older identity survives even when it is the one verifying second', async () => {
    const email = mail();
    const older = ref();
    await client().post('/v1/identities', { reference: older, name: 'First' });
    await tick(); // created_at has millisecond precision: make "older" strictly older
    const newer = ref();
    await client().post('/v1/identities', { reference: newer, name: 'Second' });
    await verify(email, newer); // the newer holds the verified email first
    const body = await verify(email, older);
    expect(body.identity).toMatchObject({ reference: older, name: 'First' });
    expect((await client().get(`/v1/identities/${newer}`)).json().reference).toBe(older);
  });

  it('two verifications racing to merge (each proving the other’s address) leave one survivor', async () => {
    const email = mail();
    const number = phone();
    const older = ref();
    const newer = ref();
    await client().post('/v1/identities', { reference: older });
    await verify(number, older); // older holds the phone, verified
    await tick();
    await client().post('/v1/identities', { reference: newer });
    await verify(email, newer); // newer holds the email, verified
    // Now each proves the other's address, at the same time.
    const a = await client().post('/v1/verifications', { identifier: email, identity_reference: older });
    const b = await client().post('/v1/verifications', { identifier: number, identity_reference: newer });
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    const codes = [await latestCode(rt, key, email), await latestCode(rt, key, number)];
    const [ra, rb] = await Promise.all([
      client().post('/v1/verifications/check', { identifier: email, code: codes[0] }),
      client().post('/v1/verifications/check', { identifier: number, code: codes[1] }),
    ]);
    expect([ra.statusCode, rb.statusCode]).toEqual([200, 200]);
    const survivor = (await client().get(`/v1/identities/${older}`)).json();
    expect((await client().get(`/v1/identities/${newer}`)).json().id).toBe(survivor.id);
    expect(survivor).toMatchObject({ reference: older, email, email_verified: true, phone: number, phone_verified: true });
    expect([...survivor.references].sort()).toEqual([older, newer].sort());
    expect(ra.json().identity.id).toBe(survivor.id);
    expect(rb.json().identity.id).toBe(survivor.id);
  });
});

describe('CPF routing', () => {
  it('delivers to the identity’s phone and checks by CPF', async () => {
    const reference = ref();
    const number = phone();
    const taxId = cpf();
    await client().post('/v1/identities', { reference, phone: number, cpf: taxId });
    const formatted = `${taxId.slice(0, 3)}.${taxId.slice(3, 6)}.${taxId.slice(6, 9)}-${taxId.slice(9)}`;
    const sent = await client().post('/v1/verifications', { identifier: formatted });
    expect(sent.statusCode).toBe(201);
    expect(sent.json()).toMatchObject({ identifier: taxId, identifier_type: 'cpf', channel: 'whatsapp' });
    const code = await latestCode(rt, key, number); // the message went to the phone
    const res = await client().post('/v1/verifications/check', { identifier: taxId, code });
    expect(res.statusCode).toBe(200);
    expect(res.json().identity).toMatchObject({ reference, cpf: taxId });
  });

  it('falls back to the identity’s email, and to 422 no-delivery-address with the same answer whether or not the CPF exists', async () => {
    const withEmail = ref();
    const email = mail();
    const reachable = cpf();
    await client().post('/v1/identities', { reference: withEmail, email, cpf: reachable });
    const sent = await client().post('/v1/verifications', { identifier: reachable });
    expect(sent.json().channel).toBe('email');
    expect(await latestCode(rt, key, email)).toMatch(/^\d{6}$/);

    const bare = cpf();
    await client().post('/v1/identities', { reference: ref(), cpf: bare });
    const unreachable = await client().post('/v1/verifications', { identifier: bare });
    const unknown = await client().post('/v1/verifications', { identifier: cpf() });
    for (const res of [unreachable, unknown]) expect(res.statusCode).toBe(422);
    const strip = (b: Record<string, unknown>) => ({ type: b.type, title: b.title, status: b.status, detail: b.detail });
    expect(strip(unreachable.json())).toEqual(strip(unknown.json()));
    expect(unknown.json().type).toBe('no-delivery-address');
  });

  it('a phone falls back to the identity’s email when the policy allows no phone channel', async () => {
    const emailOnly = await createIntegration(rt.app, { policy: { channels: ['email'] } });
    const reference = ref();
    const email = mail();
    await api(rt.app, emailOnly.testKey).post('/v1/identities', { reference, email });
    const number = phone();
    const sent = await api(rt.app, emailOnly.testKey).post('/v1/verifications', { identifier: number, identity_reference: reference });
    expect(sent.statusCode).toBe(201);
    expect(sent.json().channel).toBe('email');
    expect(await latestCode(rt, emailOnly.testKey, email)).toMatch(/^\d{6}$/);
    const withoutIdentity = await api(rt.app, emailOnly.testKey).post('/v1/verifications', { identifier: phone() });
    expect(withoutIdentity.statusCode).toBe(422);
    expect(withoutIdentity.json().type).toBe('channel-unavailable');
  });
});
