import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { inboundMessages, parseMail, readCapped, smtpSourceId } from './smtp-message.js';

const raw = (text: string): Buffer => Buffer.from(text.replace(/\n/g, '\r\n'));

describe('smtpSourceId', () => {
  const bytes = raw('Subject: x\n\nbody\n');
  it('is the same for the same Message-ID and recipient (any case), whatever the bytes', () => {
    expect(smtpSourceId('<a@b>', bytes, 'Inbox-X@Sandbox.test')).toBe(smtpSourceId('<a@b>', raw('other bytes'), 'inbox-x@sandbox.test'));
  });
  it('differs per recipient and per Message-ID', () => {
    expect(smtpSourceId('<a@b>', bytes, 'one@sandbox.test')).not.toBe(smtpSourceId('<a@b>', bytes, 'two@sandbox.test'));
    expect(smtpSourceId('<a@b>', bytes, 'one@sandbox.test')).not.toBe(smtpSourceId('<c@d>', bytes, 'one@sandbox.test'));
  });
  it('without a Message-ID, is the hash of the bytes: the same bytes match, others do not, and a Message-ID equal to the bytes cannot collide', () => {
    expect(smtpSourceId(null, bytes, 'one@sandbox.test')).toBe(smtpSourceId(null, Buffer.from(bytes), 'one@sandbox.test'));
    expect(smtpSourceId(null, bytes, 'one@sandbox.test')).not.toBe(smtpSourceId(null, raw('Subject: y\n\nbody\n'), 'one@sandbox.test'));
    expect(smtpSourceId(null, bytes, 'one@sandbox.test')).not.toBe(smtpSourceId(bytes.toString(), bytes, 'one@sandbox.test'));
  });
  it('is short and safe to store, however long the Message-ID', () => {
    expect(smtpSourceId(`<${'x'.repeat(5_000)}@b>`, bytes, 'one@sandbox.test')).toMatch(/^smtp_[A-Za-z0-9_-]{43}$/);
  });
});

describe('parseMail', () => {
  it('takes the text part, the subject, the From address and the Message-ID', async () => {
    const mail = await parseMail(
      raw('From: "Acme" <no-reply@acme.example>\nTo: inbox@sandbox.test\nSubject: =?UTF-8?Q?C=C3=B3digo?=\nMessage-ID: <m1@acme.example>\nContent-Type: text/plain; charset=utf-8\n\n  Seu c\u00f3digo: 123456  \n'),
      'bounce@acme.example',
    );
    expect(mail).toEqual({ messageId: '<m1@acme.example>', from: 'no-reply@acme.example', subject: 'Código', text: 'Seu código: 123456' });
  });
  it('turns an HTML-only body into text, and falls back to the envelope sender without a From', async () => {
    const mail = await parseMail(raw('Subject: Code\nContent-Type: text/html\n\n<html><body><p>Your code is <b>998877</b></p><script>x</script></body></html>\n'), 'envelope@acme.example');
    expect(mail.text).toContain('Your code is 998877');
    expect(mail.text).not.toMatch(/<b>|<p>/);
    expect(mail.from).toBe('envelope@acme.example');
    expect(mail.messageId).toBeNull();
  });
  it('reads the text alternative of a multipart message', async () => {
    const mail = await parseMail(
      raw('From: a@acme.example\nSubject: s\nContent-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nPlain 424242\n--XX\nContent-Type: text/html\n\n<p>Html 999999</p>\n--XX--\n'),
      '',
    );
    expect(mail.text).toBe('Plain 424242');
  });
});

describe('inboundMessages', () => {
  it('makes one email message per recipient with its own source id', () => {
    const bytes = raw('x');
    const list = inboundMessages({ messageId: '<m@x>', from: 'a@acme.example', subject: 's', text: 't' }, bytes, ['one@sandbox.test', 'two@sandbox.test']);
    expect(list.map((m) => [m.to, m.channel, m.text])).toEqual([
      ['one@sandbox.test', 'email', 't'],
      ['two@sandbox.test', 'email', 't'],
    ]);
    expect(new Set(list.map((m) => m.sourceId)).size).toBe(2);
  });
});

describe('readCapped', () => {
  it('returns the bytes under the cap and `oversize` over it, reading the stream to its end either way', async () => {
    const small = new PassThrough();
    const reading = readCapped(small, 10);
    small.end(Buffer.from('0123456789'));
    expect((await reading).toString()).toBe('0123456789');

    const big = new PassThrough();
    const over = readCapped(big, 10);
    big.write(Buffer.from('01234567'));
    big.write(Buffer.from('89A'));
    big.end(Buffer.from('more'));
    expect(await over).toBe('oversize');
  });
  it('trusts the SMTP stream when it says the size was exceeded', async () => {
    const stream = Object.assign(new PassThrough(), { sizeExceeded: true });
    const reading = readCapped(stream, 100);
    stream.end(Buffer.from('tiny'));
    expect(await reading).toBe('oversize');
  });
});
