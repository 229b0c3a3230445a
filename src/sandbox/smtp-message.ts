/**
 * One message received by the sandbox SMTP listener: its bytes read under a size cap, parsed with
 * mailparser, and turned into one InboundMessage per accepted recipient.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { simpleParser, type AddressObject } from 'mailparser';
import type { InboundMessage } from './inbox-intake.js';

/** The message's bytes, or `oversize` when more than `maxBytes` came (the rest is read and dropped, so the SMTP session stays in step). */
export function readCapped(stream: Readable & { sizeExceeded?: boolean }, maxBytes: number): Promise<Buffer | 'oversize'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(stream.sizeExceeded || size > maxBytes ? 'oversize' : Buffer.concat(chunks, size)));
  });
}

export interface ParsedMail {
  messageId: string | null;
  from: string;
  subject: string | null;
  text: string;
}

function firstAddress(from: AddressObject | AddressObject[] | undefined): string | null {
  const list = Array.isArray(from) ? from : from ? [from] : [];
  for (const group of list) for (const entry of group.value) if (entry.address) return entry.address;
  return null;
}

/**
 * Parses a raw RFC 5322 message: the text part (mailparser turns an HTML-only message into text),
 * the subject and the From address (else the envelope sender). Throws when the bytes are not a message.
 */
export async function parseMail(raw: Buffer, envelopeFrom: string): Promise<ParsedMail> {
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
  return {
    messageId: parsed.messageId?.trim() || null,
    from: firstAddress(parsed.from) ?? envelopeFrom,
    subject: parsed.subject ?? null,
    text: (parsed.text ?? '').trim(),
  };
}

/**
 * The id that makes a retry by the sending MTA land once: the Message-ID (else the message's own
 * bytes) with the recipient, hashed so any length and any characters fit.
 */
export function smtpSourceId(messageId: string | null, raw: Buffer, recipient: string): string {
  const hash = createHash('sha256');
  if (messageId !== null) hash.update(`id:${messageId}`);
  else hash.update('raw:').update(raw);
  hash.update(`\n${recipient.toLowerCase()}`);
  return `smtp_${hash.digest('base64url')}`;
}

/** One InboundMessage per recipient (the envelope's RCPT TO, which the listener already checked). */
export function inboundMessages(mail: ParsedMail, raw: Buffer, recipients: readonly string[]): InboundMessage[] {
  return recipients.map((to) => ({
    to,
    from: mail.from,
    subject: mail.subject,
    text: mail.text,
    channel: 'email' as const,
    sourceId: smtpSourceId(mail.messageId, raw, to),
  }));
}
