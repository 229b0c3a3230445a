/**
 * The built-in sandbox SMTP listener: any program (an app under test, its mailer, a CI job) can point
 * its SMTP settings here, and mail for an open inbox's address lands in that inbox. Nothing is ever
 * relayed: a recipient outside the sandbox domain, or with no open inbox, is refused at RCPT TO.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { InboundMessage } from './inbox-intake.js';
import { maskAddress } from './mask-address.js';
import type { SandboxSmtpTunables } from './smtp-config.js';
import { inboundMessages, parseMail, readCapped } from './smtp-message.js';

export interface SmtpListenerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  limits: Pick<SandboxSmtpTunables, 'maxMessageBytes' | 'maxClients' | 'maxRecipients' | 'socketTimeoutMs'>;
  /** STARTTLS with this key and certificate (PEM); null: STARTTLS is not offered. */
  tls: { key: Buffer; cert: Buffer } | null;
  /** AUTH PLAIN/LOGIN required with these; null: AUTH is not offered. */
  auth: { user: string; password: string } | null;
  /** The only mail domain accepted (no relay); null: any domain, as long as `accepts` says yes. */
  domain: string | null;
  /** How long close() lets connections in progress finish before cutting them. */
  closeTimeoutMs: number;
  /** Whether an open inbox has this address. */
  accepts(address: string): Promise<boolean>;
  /** Lands one message in its inbox (null: no open inbox any more). */
  deliver(message: InboundMessage): Promise<{ inboxId: string } | null>;
  logger: Logger;
}

export interface SmtpListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; lets connections in progress finish (up to closeTimeoutMs). */
  close(): Promise<void>;
}

/** An SMTP reply: smtp-server sends `responseCode` and the message. */
function reply(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Constant-time equality of two secrets of any length (compares their SHA-256 digests). */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

const domainOf = (address: string): string => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

function serverOptions(options: SmtpListenerOptions): SMTPServerOptions {
  const { limits, tls, auth, logger } = options;
  const disabled = [...(tls ? [] : ['STARTTLS']), ...(auth ? [] : ['AUTH'])];
  return {
    banner: 'otpgate sandbox: mail for sandbox inboxes only',
    size: limits.maxMessageBytes,
    maxClients: limits.maxClients,
    maxRecipients: limits.maxRecipients,
    socketTimeout: limits.socketTimeoutMs,
    closeTimeout: options.closeTimeoutMs,
    disableReverseLookup: true,
    logger: false,
    disabledCommands: disabled,
    hideSTARTTLS: tls === null,
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: auth === null,
    // With a certificate, credentials only travel after STARTTLS; without one (a private network), in clear.
    allowInsecureAuth: tls === null,
    onAuth(credentials, _session, callback) {
      const ok = auth !== null && sameSecret(credentials.username ?? '', auth.user) && sameSecret(credentials.password ?? '', auth.password);
      if (!ok) {
        logger.warn({ method: credentials.method }, 'sandbox SMTP: authentication failed');
        return callback(reply(535, '5.7.8 Authentication credentials invalid'));
      }
      return callback(null, { user: 'sandbox' });
    },
    onRcptTo(address, _session, callback) {
      const to = address.address;
      if (options.domain !== null && domainOf(to) !== options.domain.toLowerCase()) {
        logger.info({ to: maskAddress(to) }, 'sandbox SMTP: recipient refused (not the sandbox domain; nothing is relayed)');
        return callback(reply(550, `5.7.1 Relaying denied: only mail for @${options.domain} is accepted`));
      }
      options.accepts(to).then(
        (open) => {
          if (open) return callback();
          logger.info({ to: maskAddress(to) }, 'sandbox SMTP: recipient refused (no open inbox at this address)');
          return callback(reply(550, '5.1.1 No open sandbox inbox at this address'));
        },
        (err: unknown) => {
          logger.error({ err }, 'sandbox SMTP: could not look the recipient up');
          callback(reply(451, '4.3.0 Temporary failure, try again later'));
        },
      );
    },
    onData(stream, session, callback) {
      receive(options, stream, session).then(
        (answer) => (typeof answer === 'string' ? callback(null, answer) : callback(answer)),
        (err: unknown) => {
          logger.error({ err }, 'sandbox SMTP: could not store a message');
          callback(reply(451, '4.3.0 Temporary failure, try again later'));
        },
      );
    },
  };
}

/** Reads, parses and lands one message; resolves to the success text or the SMTP error to answer. */
async function receive(options: SmtpListenerOptions, stream: Parameters<NonNullable<SMTPServerOptions['onData']>>[0], session: SMTPServerSession): Promise<string | Error> {
  const raw = await readCapped(stream, options.limits.maxMessageBytes);
  if (raw === 'oversize') {
    options.logger.info({ bytes: stream.byteLength }, 'sandbox SMTP: message refused (over OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES)');
    return reply(552, `5.3.4 Message exceeds the maximum size of ${options.limits.maxMessageBytes} bytes`);
  }
  const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  let mail;
  try {
    mail = await parseMail(raw, envelopeFrom);
  } catch (err) {
    options.logger.info({ err: err instanceof Error ? err.name : 'error' }, 'sandbox SMTP: message refused (not a parseable message)');
    return reply(554, '5.6.0 The message could not be parsed');
  }
  const recipients = session.envelope.rcptTo.map((r) => r.address);
  for (const message of inboundMessages(mail, raw, recipients)) {
    const landed = await options.deliver(message);
    if (landed) options.logger.info({ inbox_id: landed.inboxId, to: maskAddress(message.to), bytes: raw.length }, 'sandbox SMTP: message landed in an inbox');
    else options.logger.info({ to: maskAddress(message.to) }, 'sandbox SMTP: message dropped (the inbox closed after RCPT TO)');
  }
  return 'OK: queued in the sandbox';
}

/** Starts listening; rejects (naming the setting) when the port cannot be bound. */
export async function startSmtpListener(options: SmtpListenerOptions): Promise<SmtpListener> {
  let server: SMTPServer;
  try {
    server = new SMTPServer(serverOptions(options));
  } catch (err) {
    // A key or certificate that is not PEM, or a key that does not match the certificate.
    throw new Error(`the sandbox SMTP listener cannot use its TLS key and certificate (OTPGATE_SANDBOX_SMTP_TLS_KEY, OTPGATE_SANDBOX_SMTP_TLS_CERT): ${err instanceof Error ? err.message : String(err)}`);
  }
  // Client and TLS errors of one connection are reported here; without a listener they would crash the process.
  server.on('error', (err) => options.logger.warn({ err: { name: err.name, code: (err as NodeJS.ErrnoException).code } }, 'sandbox SMTP: connection error'));
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      reject(new Error(`the sandbox SMTP listener cannot listen on ${options.host}:${options.port} (${err.code ?? err.message}): set OTPGATE_SANDBOX_SMTP_PORT to a free port, or to off`));
    };
    server.server.once('error', failed);
    server.listen(options.port, options.host, () => {
      server.server.off('error', failed);
      resolve();
    });
  });
  const address = server.server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    host: address.address,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
  };
}

/** Reads the STARTTLS key and certificate files named in the settings (null when none are set). */
export async function loadSmtpTls(tls: SandboxSmtpTunables['tls']): Promise<{ key: Buffer; cert: Buffer } | null> {
  if (tls === null) return null;
  try {
    return { key: await readFile(tls.keyPath), cert: await readFile(tls.certPath) };
  } catch (err) {
    throw new Error(`the sandbox SMTP listener cannot read its TLS key or certificate (OTPGATE_SANDBOX_SMTP_TLS_KEY, OTPGATE_SANDBOX_SMTP_TLS_CERT): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
