/**
 * Black-box: the built server (`node dist/cli/index.js serve`) with its sandbox SMTP listener, mail
 * sent with nodemailer from this process, and the SDK's waitForCode reading the code; inbound SMS
 * posted to the real server signed as Twilio signs it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { OtpgateClient, type SandboxInbox } from '../../packages/client/src/index.js';
import { twilioSignature } from '../../src/delivery/providers/twilio-signature.js';
import { rawSmtp } from '../helpers/smtp.js';
import { createIntegration, request } from './client.js';
import { startServer, useServers, type Server } from './server.js';

useServers();

const PUBLIC_URL = 'https://otp.example.com';
const AUTH_TOKEN = 'e2e-twilio-auth-token-0123456789';
const TWILIO_ENV = {
  OTPGATE_PUBLIC_URL: PUBLIC_URL,
  OTPGATE_TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000',
  OTPGATE_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  OTPGATE_TWILIO_FROM: '+15005550006',
  OTPGATE_TWILIO_BASE_URL: 'http://127.0.0.1:9',
};
const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/smtp-tls/${name}`, import.meta.url));

/** The SMTP port the server printed (`sandbox SMTP listening on host:port`). */
function smtpPort(server: Server): number {
  const match = /sandbox SMTP listening on [^\s]+:(\d+)/.exec(server.stdout());
  if (!match) throw new Error(`no SMTP line in stdout:\n${server.stdout()}`);
  return Number(match[1]);
}

async function sdkFor(server: Server): Promise<OtpgateClient> {
  const integration = await createIntegration(server, { name: 'SMTP e2e' });
  return new OtpgateClient({ apiKey: integration.testKey, baseUrl: server.url });
}

async function inbox(client: OtpgateClient, kind: 'email' | 'phone'): Promise<SandboxInbox> {
  const res = await client.sandbox.inboxes.create(kind === 'phone' ? { kind, country: 'US' } : { kind });
  if (!res.ok) throw new Error(`create inbox: ${res.status} ${JSON.stringify(res.problem)}`);
  return res.data;
}

function postInboundSms(server: Server, params: Record<string, string>, signature?: string) {
  const path = '/v1/providers/twilio/inbound';
  return request(server, 'POST', path, {
    rawBody: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature ?? twilioSignature(AUTH_TOKEN, `${PUBLIC_URL}${path}`, params) },
  });
}

describe('sandbox SMTP listener and inbound SMS against the built server', () => {
  it('mail through the SMTP listener and a signed inbound SMS land in their inboxes and waitForCode reads them; a bad signature and unknown or foreign recipients are refused', async () => {
    const server = await startServer({ env: TWILIO_ENV });
    const port = smtpPort(server);
    const client = await sdkFor(server);

    // Email: the app under test points its SMTP at otpgate.
    const mailbox = await inbox(client, 'email');
    expect(mailbox.address).toMatch(/@sandbox\.otpgate\.test$/);
    const mailer = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    const mail = { from: 'Acme <no-reply@acme.example>', to: mailbox.address, subject: 'Confirm your email', text: 'Welcome! Your Acme code is 640271.', messageId: '<signup-1@acme.example>' };
    await mailer.sendMail(mail);
    const byMail = await client.sandbox.inboxes.waitForCode(mailbox.id, { timeoutMs: 10_000 });
    expect(byMail).toMatchObject({ ok: true, data: { code: '640271', otp_count: 1 } });
    await mailer.sendMail(mail); // the sending MTA retries: stored once
    const read = await client.sandbox.inboxes.get(mailbox.id);
    expect(read.ok && read.data.messages).toEqual([expect.objectContaining({ channel: 'email', from: 'no-reply@acme.example', subject: 'Confirm your email', code: '640271' })]);

    // Unknown inbox at the sandbox domain, and a foreign domain (no relay): refused at RCPT TO.
    await expect(mailer.sendMail({ from: 'a@acme.example', to: 'inbox-nosuchinbox22@sandbox.otpgate.test', text: 'code 111111' })).rejects.toMatchObject({ code: 'EENVELOPE' });
    const raw = await rawSmtp(port);
    await raw.command('EHLO e2e.example');
    await raw.command('MAIL FROM:<a@acme.example>');
    expect((await raw.command('RCPT TO:<inbox-nosuchinbox22@sandbox.otpgate.test>')).code).toBe(550);
    expect((await raw.command('RCPT TO:<someone@gmail.com>')).text).toMatch(/^5\.7\.1 Relaying denied/);
    raw.close();

    // Phone: Twilio posts the SMS to the inbox's number; the long-poll is already waiting.
    const phone = await inbox(client, 'phone');
    const waiting = client.sandbox.inboxes.waitForCode(phone.id, { timeoutMs: 10_000 });
    const params = { MessageSid: 'SM0123456789abcdef0123456789abcdef', SmsSid: 'SM0123456789abcdef0123456789abcdef', AccountSid: TWILIO_ENV.OTPGATE_TWILIO_ACCOUNT_SID, From: '+447700900123', To: phone.address, Body: 'Your code: 907311', NumMedia: '0' };

    const forged = await postInboundSms(server, { ...params, Body: 'Your code: 000000' }, twilioSignature(AUTH_TOKEN, `${PUBLIC_URL}/v1/providers/twilio/inbound`, params));
    expect(forged.status).toBe(401);
    expect(forged.body.type).toBe('invalid-signature');
    const unsigned = await postInboundSms(server, params, '');
    expect(unsigned.status).toBe(401);
    const untouched = await client.sandbox.inboxes.get(phone.id);
    expect(untouched.ok && untouched.data).toMatchObject({ status: 'waiting', otp_count: 0, messages: [] });

    const accepted = await postInboundSms(server, params);
    expect(accepted.status).toBe(200);
    expect(accepted.contentType).toMatch(/^text\/xml/);
    expect(accepted.text).toContain('<Response/>');
    expect(await waiting).toMatchObject({ ok: true, data: { code: '907311', otp_count: 1 } });
  });

  it('with settings: AUTH required, STARTTLS offered, the size limit enforced; `off` starts no listener', async () => {
    const server = await startServer({
      env: {
        OTPGATE_SANDBOX_SMTP_USER: 'app-under-test',
        OTPGATE_SANDBOX_SMTP_PASSWORD: 'e2e-smtp-password',
        OTPGATE_SANDBOX_SMTP_TLS_KEY: fixture('key.pem'),
        OTPGATE_SANDBOX_SMTP_TLS_CERT: fixture('cert.pem'),
        OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES: '4096',
      },
    });
    const port = smtpPort(server);
    const client = await sdkFor(server);
    const mailbox = await inbox(client, 'email');

    const raw = await rawSmtp(port);
    const ehlo = await raw.command('EHLO e2e.example');
    expect(ehlo.lines).toEqual(expect.arrayContaining(['STARTTLS', 'SIZE 4096']));
    expect((await raw.command('MAIL FROM:<a@acme.example>')).code).toBe(530); // authentication required
    raw.close();

    const tls = { ca: [readFileSync(fixture('cert.pem'))], servername: 'localhost' };
    const noAuth = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls });
    await expect(noAuth.sendMail({ from: 'a@acme.example', to: mailbox.address, text: 'code 123456' })).rejects.toMatchObject({ responseCode: 530 });
    const mailer = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, tls, auth: { user: 'app-under-test', pass: 'e2e-smtp-password' } });
    await expect(mailer.sendMail({ from: 'a@acme.example', to: mailbox.address, text: `code 222333\n${'x'.repeat(8_000)}` })).rejects.toMatchObject({ responseCode: 552 });
    await mailer.sendMail({ from: 'a@acme.example', to: mailbox.address, subject: 'Your code', text: 'Your code is 515151' });
    expect(await client.sandbox.inboxes.waitForCode(mailbox.id, { timeoutMs: 10_000 })).toMatchObject({ ok: true, data: { code: '515151', otp_count: 1 } });
    const read = await client.sandbox.inboxes.get(mailbox.id);
    expect(read.ok && read.data.messages).toHaveLength(1); // the oversize one was not stored
    expect((await server.stop('SIGTERM')).code).toBe(0);

    const off = await startServer({ env: { OTPGATE_SANDBOX_SMTP_PORT: 'off' } });
    expect(off.stdout()).not.toMatch(/sandbox SMTP listening/);
    expect((await request(off, 'GET', '/healthz')).status).toBe(200);
  });
});
