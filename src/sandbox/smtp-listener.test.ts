import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { rawMessage, rawSmtp } from '../../test/helpers/smtp.js';
import type { InboundMessage } from './inbox-intake.js';
import { loadSmtpTls, startSmtpListener, type SmtpListener, type SmtpListenerOptions } from './smtp-listener.js';

const DOMAIN = 'sandbox.otpgate.test';
const OPEN = 'inbox-abcdefgh2345@sandbox.otpgate.test';
const OTHER_OPEN = 'inbox-zyxwvuts6789@sandbox.otpgate.test';
const TLS = {
  key: readFileSync(fileURLToPath(new URL('../../test/fixtures/smtp-tls/key.pem', import.meta.url))),
  cert: readFileSync(fileURLToPath(new URL('../../test/fixtures/smtp-tls/cert.pem', import.meta.url))),
};

interface Harness {
  listener: SmtpListener;
  delivered: InboundMessage[];
  looked: string[];
  logs: string[];
}

const started: SmtpListener[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.close()));
});

async function listen(overrides: Partial<SmtpListenerOptions> = {}): Promise<Harness> {
  const delivered: InboundMessage[] = [];
  const looked: string[] = [];
  const logs: string[] = [];
  const open = new Set([OPEN, OTHER_OPEN]);
  const listener = await startSmtpListener({
    host: '127.0.0.1',
    port: 0,
    limits: { maxMessageBytes: 4_096, maxClients: 5, maxRecipients: 3, socketTimeoutMs: 5_000 },
    tls: null,
    auth: null,
    domain: DOMAIN,
    closeTimeoutMs: 1_000,
    accepts: async (address) => {
      looked.push(address);
      return open.has(address.toLowerCase());
    },
    deliver: async (message) => {
      delivered.push(message);
      return { inboxId: 'inb_test' };
    },
    logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
    ...overrides,
  });
  started.push(listener);
  return { listener, delivered, looked, logs };
}

function transport(port: number, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, ...extra });
}

describe('sandbox SMTP listener', () => {
  it('lands a message once per accepted recipient: text, subject, sender, a source id per recipient; EHLO offers SIZE, no STARTTLS, no AUTH', async () => {
    const h = await listen();
    const info = await transport(h.listener.port).sendMail({
      from: 'Acme <no-reply@acme.example>',
      to: [OPEN, OTHER_OPEN.toUpperCase()],
      subject: 'Your Acme code',
      text: 'Your code is 482913. It expires in 10 minutes.',
      messageId: '<m1@acme.example>',
    });
    expect(info.accepted).toHaveLength(2);
    expect(h.delivered).toHaveLength(2);
    expect(h.delivered[0]).toMatchObject({ to: OPEN, from: 'no-reply@acme.example', subject: 'Your Acme code', channel: 'email', text: 'Your code is 482913. It expires in 10 minutes.' });
    expect(h.delivered[1]?.to).toBe('INBOX-ZYXWVUTS6789@sandbox.otpgate.test'); // as given (nodemailer lower-cases the domain); the intake matches any case
    expect(h.delivered[0]?.sourceId).toMatch(/^smtp_[\w-]{43}$/);
    expect(h.delivered[0]?.sourceId).not.toBe(h.delivered[1]?.sourceId);

    const raw = await rawSmtp(h.listener.port);
    const ehlo = await raw.command('EHLO client.example');
    expect(ehlo.code).toBe(250);
    expect(ehlo.lines).toContain('SIZE 4096');
    expect(ehlo.text).not.toMatch(/STARTTLS|AUTH/);
    raw.close();
  });

  it('refuses RCPT TO for an address with no open inbox (550 5.1.1) and, without asking, for any other domain (550 5.7.1: no relay)', async () => {
    const h = await listen();
    const raw = await rawSmtp(h.listener.port);
    await raw.command('EHLO client.example');
    expect((await raw.command('MAIL FROM:<app@acme.example>')).code).toBe(250);
    const unknown = await raw.command(`RCPT TO:<inbox-nobodyhere22@${DOMAIN}>`);
    expect(unknown.code).toBe(550);
    expect(unknown.text).toMatch(/5\.1\.1/);
    const relay = await raw.command('RCPT TO:<victim@gmail.com>');
    expect(relay.code).toBe(550);
    expect(relay.text).toMatch(/5\.7\.1 Relaying denied/);
    expect(h.looked).toEqual([`inbox-nobodyhere22@${DOMAIN}`]); // the other domain never reached the inboxes
    expect((await raw.command('DATA')).code).toBe(503); // no valid recipient
    raw.close();
    expect(h.delivered).toEqual([]);
  });

  it('refuses recipients beyond the limit with 452', async () => {
    const h = await listen({ limits: { maxMessageBytes: 4_096, maxClients: 5, maxRecipients: 1, socketTimeoutMs: 5_000 } });
    const raw = await rawSmtp(h.listener.port);
    await raw.command('EHLO client.example');
    await raw.command('MAIL FROM:<app@acme.example>');
    expect((await raw.command(`RCPT TO:<${OPEN}>`)).code).toBe(250);
    expect((await raw.command(`RCPT TO:<${OTHER_OPEN}>`)).code).toBe(452);
    raw.close();
  });

  it('turns away connections beyond the limit with 421', async () => {
    const h = await listen({ limits: { maxMessageBytes: 4_096, maxClients: 1, maxRecipients: 3, socketTimeoutMs: 5_000 } });
    const first = await rawSmtp(h.listener.port);
    expect(first.greeting.code).toBe(220);
    const second = await rawSmtp(h.listener.port);
    expect(second.greeting.code).toBe(421);
    await second.closed;
    expect((await first.command('NOOP')).code).toBe(250);
    first.close();
  });

  it('answers 552 to a message over the size limit, stores nothing, and keeps the session usable', async () => {
    const h = await listen();
    const raw = await rawSmtp(h.listener.port);
    await raw.command('EHLO client.example');
    await raw.command('MAIL FROM:<app@acme.example>');
    await raw.command(`RCPT TO:<${OPEN}>`);
    expect((await raw.command('DATA')).code).toBe(354);
    const big = await raw.data(rawMessage({ Subject: 'big', 'Message-ID': '<big@acme.example>' }, `code 111222\n${'x'.repeat(76)}\n`.repeat(80)));
    expect(big.code).toBe(552);
    expect(big.text).toMatch(/5\.3\.4/);
    expect(h.delivered).toEqual([]);

    // The same connection goes on: a small message is taken.
    expect((await raw.command('MAIL FROM:<app@acme.example>')).code).toBe(250);
    expect((await raw.command(`RCPT TO:<${OPEN}>`)).code).toBe(250);
    expect((await raw.command('DATA')).code).toBe(354);
    expect((await raw.data(rawMessage({ Subject: 'small' }, 'Your code: 333444'))).code).toBe(250);
    expect(h.delivered.map((m) => m.text)).toEqual(['Your code: 333444']);
    raw.close();
  });

  it('reads the text of an HTML-only message; a redelivery with the same Message-ID has the same source id', async () => {
    const h = await listen();
    const mailer = transport(h.listener.port);
    const mail = { from: 'no-reply@acme.example', to: OPEN, subject: 'Code', html: '<p>Your code is <b>559101</b></p>', messageId: '<same@acme.example>' };
    await mailer.sendMail(mail);
    await mailer.sendMail(mail);
    expect(h.delivered).toHaveLength(2);
    expect(h.delivered[0]?.text).toContain('559101');
    expect(h.delivered[0]?.text).not.toContain('<b>');
    expect(h.delivered[0]?.sourceId).toBe(h.delivered[1]?.sourceId);
  });

  it('answers 451 (try later) when the inboxes cannot be read or written, and keeps serving', async () => {
    let failLookups = true;
    const h = await listen({
      accepts: async (address) => {
        if (failLookups) throw new Error(`database down while looking up ${address}`);
        return address === OPEN;
      },
      deliver: async () => {
        throw new Error('database down');
      },
    });
    const raw = await rawSmtp(h.listener.port);
    await raw.command('EHLO client.example');
    await raw.command('MAIL FROM:<app@acme.example>');
    expect((await raw.command(`RCPT TO:<${OPEN}>`)).code).toBe(451);
    failLookups = false;
    expect((await raw.command(`RCPT TO:<${OPEN}>`)).code).toBe(250);
    await raw.command('DATA');
    expect((await raw.data(rawMessage({ Subject: 'x' }, 'code 123456'))).code).toBe(451);
    expect((await raw.command('NOOP')).code).toBe(250);
    raw.close();
  });

  it('requires AUTH when configured: MAIL before it is refused, a wrong password gets 535, the right one sends', async () => {
    const h = await listen({ auth: { user: 'sandbox', password: 'correct horse' } });
    const raw = await rawSmtp(h.listener.port);
    const ehlo = await raw.command('EHLO client.example');
    expect(ehlo.lines).toContain('AUTH PLAIN LOGIN');
    expect((await raw.command('MAIL FROM:<app@acme.example>')).code).toBe(530);
    const wrong = Buffer.from('\0sandbox\0wrong horse').toString('base64');
    expect((await raw.command(`AUTH PLAIN ${wrong}`)).code).toBe(535);
    raw.close();

    await expect(transport(h.listener.port, { auth: { user: 'sandbox', pass: 'not it' } }).sendMail({ from: 'a@acme.example', to: OPEN, text: 'code 1' })).rejects.toMatchObject({ responseCode: 535 });
    await transport(h.listener.port, { auth: { user: 'sandbox', pass: 'correct horse' } }).sendMail({ from: 'a@acme.example', to: OPEN, text: 'Your code 700800' });
    expect(h.delivered.map((m) => m.text)).toEqual(['Your code 700800']);
    expect(h.logs.join('')).not.toContain('correct horse');
  });

  it('offers STARTTLS when given a certificate; with AUTH too, credentials are only taken after it', async () => {
    const h = await listen({ tls: TLS, auth: { user: 'sandbox', password: 'correct horse' } });
    const raw = await rawSmtp(h.listener.port);
    const ehlo = await raw.command('EHLO client.example');
    expect(ehlo.lines).toContain('STARTTLS');
    const plain = Buffer.from('\0sandbox\0correct horse').toString('base64');
    expect((await raw.command(`AUTH PLAIN ${plain}`)).code).toBe(538); // STARTTLS first
    raw.close();

    const info = await nodemailer
      .createTransport({ host: '127.0.0.1', port: h.listener.port, secure: false, requireTLS: true, tls: { ca: TLS.cert, servername: 'localhost' }, auth: { user: 'sandbox', pass: 'correct horse' } })
      .sendMail({ from: 'a@acme.example', to: OPEN, text: 'Your code 246810' });
    expect(info.accepted).toEqual([OPEN]);
    expect(h.delivered.map((m) => m.text)).toEqual(['Your code 246810']);
  });

  it('logs neither bodies, codes nor full addresses', async () => {
    const h = await listen();
    await transport(h.listener.port).sendMail({ from: 'Ana Souza <ana.souza@acme.example>', to: OPEN, subject: 'Secret subject', text: 'Your code is 918273' });
    const raw = await rawSmtp(h.listener.port);
    await raw.command('EHLO client.example');
    await raw.command('MAIL FROM:<app@acme.example>');
    await raw.command(`RCPT TO:<inbox-nobodyhere22@${DOMAIN}>`);
    await raw.command('RCPT TO:<victim.person@gmail.com>');
    raw.close();
    const logs = h.logs.join('');
    expect(logs).toContain('landed');
    expect(logs).toContain('i***@sandbox.otpgate.test');
    for (const secret of ['918273', 'Secret subject', OPEN, 'inbox-nobodyhere22', 'victim.person', 'ana.souza']) expect(logs).not.toContain(secret);
  });

  it('cannot listen on a taken port (the error names the setting); close() stops accepting', async () => {
    const h = await listen();
    await expect(listen({ port: h.listener.port })).rejects.toThrow(/OTPGATE_SANDBOX_SMTP_PORT.*EADDRINUSE|EADDRINUSE.*OTPGATE_SANDBOX_SMTP_PORT/);
    await h.listener.close();
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(h.listener.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('names the TLS settings when their files are missing or not PEM', async () => {
    await expect(loadSmtpTls({ keyPath: '/nonexistent/key.pem', certPath: '/nonexistent/cert.pem' })).rejects.toThrow(/OTPGATE_SANDBOX_SMTP_TLS_KEY.*ENOENT/);
    expect(await loadSmtpTls(null)).toBeNull();
    await expect(listen({ tls: { key: Buffer.from('not a key'), cert: Buffer.from('not a cert') } })).rejects.toThrow(/OTPGATE_SANDBOX_SMTP_TLS_KEY, OTPGATE_SANDBOX_SMTP_TLS_CERT/);
  });
});
