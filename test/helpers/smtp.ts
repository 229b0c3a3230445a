/**
 * A bare SMTP client for tests that need to see the server's own replies (EHLO capabilities, the
 * code a RCPT or a DATA gets): one command at a time over a plain socket.
 */
import { connect, type Socket } from 'node:net';

export interface SmtpReply {
  code: number;
  /** Every line's text after the code and separator. */
  lines: string[];
  text: string;
}

export interface RawSmtp {
  /** The greeting (220 …). */
  greeting: SmtpReply;
  /** Sends one line (CRLF added) and reads the whole reply. */
  command(line: string): Promise<SmtpReply>;
  /** Sends raw bytes (a message body ending in CRLF.CRLF) and reads the reply. */
  data(raw: string): Promise<SmtpReply>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export async function rawSmtp(port: number, host = '127.0.0.1'): Promise<RawSmtp> {
  const socket: Socket = connect(port, host);
  socket.setEncoding('utf8');
  let buffer = '';
  let waiting: ((reply: SmtpReply) => void) | null = null;
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});

  const tryComplete = (): void => {
    if (!waiting) return;
    const lines = buffer.split('\r\n');
    const end = lines.findIndex((l) => /^\d{3} /.test(l) || /^\d{3}$/.test(l));
    if (end < 0) return;
    const replyLines = lines.slice(0, end + 1);
    buffer = lines.slice(end + 1).join('\r\n');
    const code = Number(replyLines[end]!.slice(0, 3));
    const texts = replyLines.map((l) => l.slice(4));
    const done = waiting;
    waiting = null;
    done({ code, lines: texts, text: texts.join('\n') });
  };
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    tryComplete();
  });
  const next = (): Promise<SmtpReply> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within 5 s (buffer: ${JSON.stringify(buffer)})`)), 5_000);
      waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      tryComplete();
    });

  const greeting = await next();
  return {
    greeting,
    command(line) {
      const reply = next();
      socket.write(`${line}\r\n`);
      return reply;
    },
    data(raw) {
      const reply = next();
      socket.write(raw);
      return reply;
    },
    closed,
    close: () => socket.destroy(),
  };
}

/** A plain RFC 5322 message ending with the DATA terminator (dot-stuffed). */
export function rawMessage(headers: Record<string, string>, body: string): string {
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
  const stuffed = body.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
  return `${head}\r\n\r\n${stuffed}\r\n.\r\n`;
}
