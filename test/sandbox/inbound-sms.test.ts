/**
 * POST /v1/providers/twilio/inbound: Twilio's incoming-message webhook, signed with the deployment's
 * auth token over OTPGATE_PUBLIC_URL + path, lands the SMS in the open inbox holding the `To`
 * number; anything unsigned, or signed otherwise, is refused and stores nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilioSignature } from '../../src/delivery/providers/twilio-signature.js';
import { createLogger } from '../../src/runtime.js';
import { api, createIntegration, startRuntime, type TestIntegration, type TestRuntime } from '../helpers/runtime.js';
import { expectJson, expectProblem } from '../routes/support.js';

const PUBLIC_URL = 'https://otp.example.com';
const AUTH_TOKEN = 'twilio-auth-token-0123456789abcdef';
const PATH = '/v1/providers/twilio/inbound';
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

interface InboxBody {
  id: string;
  address: string;
  status: string;
  otp_code: string | null;
  otp_count: number;
  messages: { channel: string; from: string; text: string; code: string | null }[];
}

let rt: TestRuntime;
let integration: TestIntegration;
const logs: string[] = [];

beforeAll(async () => {
  rt = await startRuntime({
    env: {
      OTPGATE_PUBLIC_URL: PUBLIC_URL,
      OTPGATE_TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000',
      OTPGATE_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      OTPGATE_TWILIO_FROM: '+15005550006',
      OTPGATE_TWILIO_BASE_URL: 'http://127.0.0.1:9',
    },
    logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
  });
  integration = await createIntegration(rt.app, { name: 'Inbound SMS' });
});

afterAll(async () => {
  await rt?.dispose();
});

let sids = 0;
function smsParams(to: string, body: string, extra: Record<string, string> = {}): Record<string, string> {
  const sid = `SM${String(++sids).padStart(32, '0')}`;
  return { ToCountry: 'US', SmsMessageSid: sid, NumMedia: '0', SmsSid: sid, SmsStatus: 'received', Body: body, To: to, MessageSid: sid, AccountSid: 'AC00000000000000000000000000000000', From: '+447700900123', ApiVersion: '2010-04-01', ...extra };
}

function post(params: Record<string, string>, opts: { signature?: string | null; url?: string; token?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (opts.signature !== null) headers['x-twilio-signature'] = opts.signature ?? twilioSignature(opts.token ?? AUTH_TOKEN, opts.url ?? `${PUBLIC_URL}${PATH}`, params);
  return rt.app.inject({ method: 'POST', url: PATH, headers, payload: new URLSearchParams(params).toString() });
}

async function phoneInbox(): Promise<InboxBody> {
  return expectJson<InboxBody>(await api(rt.app, integration.testKey).post('/v1/sandbox/inboxes', { kind: 'phone', country: 'US' }), 201);
}

async function readInbox(id: string): Promise<InboxBody> {
  return expectJson<InboxBody>(await api(rt.app, integration.testKey).get(`/v1/sandbox/inboxes/${id}`), 200);
}

describe('inbound SMS from Twilio', () => {
  it('lands a signed SMS in the inbox holding the number, answers empty TwiML, and stores a redelivery once', async () => {
    const inbox = await phoneInbox();
    const params = smsParams(inbox.address, 'Your Acme code is 731904');
    const res = await post(params);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.body).toBe(EMPTY_TWIML);

    const read = await readInbox(inbox.id);
    expect(read).toMatchObject({ status: 'otp_received', otp_code: '731904', otp_count: 1 });
    expect(read.messages).toEqual([expect.objectContaining({ channel: 'sms', from: '+447700900123', text: 'Your Acme code is 731904', code: '731904' })]);

    // Twilio retries the same MessageSid: one message.
    expect((await post(params)).statusCode).toBe(200);
    expect((await readInbox(inbox.id)).messages).toHaveLength(1);
  });

  it('refuses a missing, forged or wrongly keyed signature with 401 invalid-signature and stores nothing', async () => {
    const inbox = await phoneInbox();
    const params = smsParams(inbox.address, 'Your code is 554433');
    expectProblem(await post(params, { signature: null }), 401, 'invalid-signature');
    expectProblem(await post(params, { signature: 'bm90IGEgc2lnbmF0dXJl' }), 401, 'invalid-signature');
    expectProblem(await post(params, { token: 'another-accounts-auth-token-000000' }), 401, 'invalid-signature');
    expectProblem(await post(params, { url: `http://localhost${PATH}` }), 401, 'invalid-signature');
    // A valid signature of other parameters (the body was changed in transit).
    const forged = twilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${PATH}`, { ...params, Body: 'Your code is 000000' });
    expectProblem(await post(params, { signature: forged }), 401, 'invalid-signature');

    const read = await readInbox(inbox.id);
    expect(read).toMatchObject({ status: 'waiting', otp_code: null, otp_count: 0, messages: [] });
  });

  it('answers empty TwiML for a number no open inbox holds, stores nothing, and logs the number masked', async () => {
    const inbox = await phoneInbox();
    expectJson(await api(rt.app, integration.testKey).post(`/v1/sandbox/inboxes/${inbox.id}/cancel`), 200);
    const res = await post(smsParams(inbox.address, 'Your code is 101010'));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(EMPTY_TWIML);
    expect((await readInbox(inbox.id)).messages).toEqual([]);

    const stranger = '+12025550123';
    expect((await post(smsParams(stranger, 'Your code is 202020'))).body).toBe(EMPTY_TWIML);
    const all = logs.join('');
    expect(all).toContain('no open sandbox inbox has this number');
    expect(all).toContain('+12*****0123');
    for (const secret of [stranger, inbox.address, '101010', '202020']) expect(all).not.toContain(secret);
  });

  it('refuses a signed message without To or MessageSid with 400, and takes a non-phone To without storing it', async () => {
    const params = smsParams('+12025550100', 'x');
    const { To: _to, ...noTo } = params;
    const problem = expectProblem(await post(noTo), 400, 'validation-error');
    expect(problem.errors).toEqual({ To: ['required'] });
    const { MessageSid: _m, SmsSid: _s, ...noSid } = params;
    expect(expectProblem(await post(noSid), 400, 'validation-error').errors).toEqual({ MessageSid: ['required'] });
    expect((await post(smsParams('ACME', 'code 123456'))).body).toBe(EMPTY_TWIML);
  });
});

describe('inbound SMS without Twilio configured', () => {
  it('refuses everything with 401 (nothing can be verified)', async () => {
    const bare = await startRuntime({ env: { OTPGATE_PUBLIC_URL: PUBLIC_URL } });
    try {
      const params = smsParams('+12025550100', 'code 123456');
      const res = await bare.app.inject({
        method: 'POST',
        url: PATH,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${PATH}`, params) },
        payload: new URLSearchParams(params).toString(),
      });
      expectProblem(res, 401, 'invalid-signature');
    } finally {
      await bare.dispose();
    }
  });
});
