import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryJob } from '../channel.js';
import { SmtpProvider } from './smtp.js';

const PASSWORD = 'p@ss-W0rd-secret';

interface Captured {
  mail: ParsedMail;
  mailFrom: string | false;
  rcptTo: string[];
  user: string | undefined;
}

let server: SMTPServer;
let port: number;
let captured: Captured[];

beforeAll(async () => {
  server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === PASSWORD) return callback(null, { user: 'mailer' });
      // A careless server that echoes the password it got: the provider must not pass it on.
      return callback(Object.assign(new Error(`Invalid login for ${auth.username}/${auth.password ?? ''}`), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('nobody@')) return callback(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      if (address.address.startsWith('busy@')) return callback(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 450 }));
      if (address.address.startsWith('slow@')) return void setTimeout(() => callback(), 3000);
      return callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          captured.push({
            mail,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            user: session.user as string | undefined,
          });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.server.address() as AddressInfo).port;
});
afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

const providers: SmtpProvider[] = [];
beforeEach(() => {
  captured = [];
});
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});

function smtp(url = `smtp://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, from = 'Acme <no-reply@acme.test>'): SmtpProvider {
  const p = new SmtpProvider({ smtpUrl: url, from, timeoutMs: 5000 });
  providers.push(p);
  return p;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}

const job: DeliveryJob = {
  sourceId: 'obx_01HZX5ABC',
  deliveryId: 'dlv_1',
  integrationId: 'int_1',
  mode: 'live',
  verificationId: 'ver_1',
  channel: 'email',
  to: 'customer@example.com',
  code: '739204',
  locale: 'en',
  subject: 'Your Acme code is 739204',
  text: 'Your Acme verification code is 739204. It expires in 10 minutes.',
  html: '<p>Your Acme verification code is <b>739204</b>.</p>',
};

const addresses = (a: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value.map((v) => v.address ?? ''));

describe('SmtpProvider', () => {
  it('declares its name and channel', () => {
    const p = smtp();
    expect(p.name).toBe('smtp');
    expect(p.channels).toEqual(['email']);
  });

  it('delivers the message to the customer, from the configured address, with the code in subject, text and html', async () => {
    const outcome = await smtp().send(job);
    expect(outcome).toEqual({ ok: true, status: 'sent', provider: 'smtp', providerId: '<obx_01HZX5ABC@otpgate>' });
    expect(captured).toHaveLength(1);
    const [got] = captured as [Captured];
    expect(got.user).toBe('mailer'); // authenticated with the URL's credentials
    expect(got.rcptTo).toEqual(['customer@example.com']);
    expect(got.mailFrom).toBe('no-reply@acme.test');
    expect(addresses(got.mail.to)).toEqual(['customer@example.com']);
    expect(addresses(got.mail.from)).toEqual(['no-reply@acme.test']);
    expect(got.mail.subject).toBe('Your Acme code is 739204');
    expect(got.mail.text?.trim()).toBe(job.text);
    expect(got.mail.html).toContain('<b>739204</b>');
    expect(got.mail.messageId).toBe('<obx_01HZX5ABC@otpgate>');
  });

  it('uses the integration’s From override, and sends no html part when there is none', async () => {
    await smtp().send({ ...job, html: null, overrides: { emailFrom: 'Shop <otp@shop.test>' } });
    const [got] = captured as [Captured];
    expect(got.mailFrom).toBe('otp@shop.test');
    expect(addresses(got.mail.from)).toEqual(['otp@shop.test']);
    expect(got.mail.html).toBe(false);
    expect(got.mail.text).toContain('739204');
  });

  it('gives a redelivery of the same message the same Message-ID, and another message another one', async () => {
    const p = smtp();
    await p.send(job);
    await p.send(job);
    await p.send({ ...job, sourceId: 'obx_other' });
    expect(captured.map((c) => c.mail.messageId)).toEqual(['<obx_01HZX5ABC@otpgate>', '<obx_01HZX5ABC@otpgate>', '<obx_other@otpgate>']);
  });

  it('sends to exactly one recipient even when the address holds a list', async () => {
    await smtp().send({ ...job, to: 'customer@example.com, attacker@evil.test' });
    const rcpts = captured.flatMap((c) => c.rcptTo);
    expect(rcpts.length).toBeLessThanOrEqual(1);
    expect(rcpts).not.toContain('attacker@evil.test');
  });

  it('treats a recipient refused with 550 at RCPT as permanent', async () => {
    const outcome = await smtp().send({ ...job, to: 'nobody@example.com' });
    expect(outcome).toMatchObject({ ok: false, retryable: false, errorCode: 'smtp_550', provider: 'smtp' });
    expect(captured).toHaveLength(0);
  });

  it('treats a 4xx at RCPT as retryable', async () => {
    const outcome = await smtp().send({ ...job, to: 'busy@example.com' });
    expect(outcome).toMatchObject({ ok: false, retryable: true, errorCode: 'smtp_450' });
  });

  it('treats a refused login as permanent and never repeats the password', async () => {
    const wrong = 'wr0ng-Secret!';
    const p = smtp(`smtp://mailer:${encodeURIComponent(wrong)}@127.0.0.1:${port}`);
    const outcome = await p.send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: false, errorCode: 'smtp_535' });
    if (!outcome.ok) {
      expect(outcome.error).toContain('Invalid login for mailer/');
      expect(outcome.error).not.toContain(wrong);
      expect(outcome.error).not.toContain(encodeURIComponent(wrong));
    }
    const check = await p.check();
    expect(check.ok).toBe(false);
    expect(check.detail).not.toContain(wrong);
  });

  it('treats a closed port as a retryable network failure', async () => {
    const outcome = await smtp(`smtp://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${await closedPort()}`).send(job);
    expect(outcome).toMatchObject({ ok: false, retryable: true, errorCode: 'network' });
    if (!outcome.ok) expect(outcome.error).not.toContain(PASSWORD);
  });

  it('gives up when the signal aborts (a timeout, retryable)', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 150);
    const outcome = await smtp().send({ ...job, to: 'slow@example.com' }, controller.signal);
    expect(outcome).toMatchObject({ ok: false, retryable: true, errorCode: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('check() succeeds against the server and fails against a closed port, sending nothing', async () => {
    const ok = await smtp().check();
    expect(ok.ok).toBe(true);
    expect(ok.detail).toContain(`127.0.0.1:${port}`);
    expect(ok.detail).not.toContain(PASSWORD);
    const down = await smtp(`smtp://mailer:${encodeURIComponent(PASSWORD)}@127.0.0.1:${await closedPort()}`).check();
    expect(down.ok).toBe(false);
    expect(down.detail).not.toContain(PASSWORD);
    expect(captured).toHaveLength(0);
  });
});
