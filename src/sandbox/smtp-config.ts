/**
 * Settings of the built-in sandbox SMTP listener, read from the environment by config.ts (which
 * hands over its own readers, so a bad value is a ConfigError naming the variable like every other).
 * The port itself is `Config.sandboxSmtpPort` (OTPGATE_SANDBOX_SMTP_PORT; `off` turns the listener off).
 */

export interface SandboxSmtpTunables {
  /** The address the listener binds (OTPGATE_SANDBOX_SMTP_HOST, default OTPGATE_HOST). */
  readonly host: string;
  /** Largest message accepted, in bytes: advertised as SIZE and enforced on the DATA stream (OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES, default 1,048,576). */
  readonly maxMessageBytes: number;
  /** Connections served at once; more are refused with 421 (OTPGATE_SANDBOX_SMTP_MAX_CLIENTS, default 100). */
  readonly maxClients: number;
  /** Recipients of one message; more are refused with 452 (OTPGATE_SANDBOX_SMTP_MAX_RECIPIENTS, default 20). */
  readonly maxRecipients: number;
  /** A connection idle for this long is closed (OTPGATE_SANDBOX_SMTP_SOCKET_TIMEOUT_MS, default 60,000). */
  readonly socketTimeoutMs: number;
  /** STARTTLS with this PEM key and certificate (OTPGATE_SANDBOX_SMTP_TLS_KEY, OTPGATE_SANDBOX_SMTP_TLS_CERT: file paths); null: no STARTTLS. */
  readonly tls: { readonly keyPath: string; readonly certPath: string } | null;
  /** AUTH PLAIN/LOGIN required with these (OTPGATE_SANDBOX_SMTP_USER, OTPGATE_SANDBOX_SMTP_PASSWORD); null: no AUTH. */
  readonly auth: { readonly user: string; readonly password: string } | null;
}

/** What config.ts lends this parser: its own readers, so empty means unset and errors are ConfigErrors. */
export interface EnvReaders {
  read(name: string): string | null;
  integer(name: string, fallback: number, min: number, max: number): number;
  fail(message: string): never;
}

/** Both variables of a pair, or neither. */
function pair(env: EnvReaders, a: string, b: string): [string, string] | null {
  const first = env.read(a);
  const second = env.read(b);
  if (first === null && second === null) return null;
  if (first === null || second === null) env.fail(`The sandbox SMTP listener is partly configured: set ${first === null ? a : b} too (or neither)`);
  return [first, second];
}

/** `off` (any case) turns the listener off; anything else must be a port (0: any free port). */
export function sandboxSmtpPortIsOff(raw: string | null): boolean {
  return raw !== null && raw.toLowerCase() === 'off';
}

export function sandboxSmtpTunables(env: EnvReaders, defaultHost: string): SandboxSmtpTunables {
  const tls = pair(env, 'OTPGATE_SANDBOX_SMTP_TLS_KEY', 'OTPGATE_SANDBOX_SMTP_TLS_CERT');
  const auth = pair(env, 'OTPGATE_SANDBOX_SMTP_USER', 'OTPGATE_SANDBOX_SMTP_PASSWORD');
  if (auth !== null && auth[1].length < 8) env.fail('OTPGATE_SANDBOX_SMTP_PASSWORD must be at least 8 characters');
  return Object.freeze({
    host: env.read('OTPGATE_SANDBOX_SMTP_HOST') ?? defaultHost,
    maxMessageBytes: env.integer('OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES', 1_048_576, 1_024, 26_214_400),
    maxClients: env.integer('OTPGATE_SANDBOX_SMTP_MAX_CLIENTS', 100, 1, 10_000),
    maxRecipients: env.integer('OTPGATE_SANDBOX_SMTP_MAX_RECIPIENTS', 20, 1, 1_000),
    socketTimeoutMs: env.integer('OTPGATE_SANDBOX_SMTP_SOCKET_TIMEOUT_MS', 60_000, 1_000, 600_000),
    tls: tls === null ? null : Object.freeze({ keyPath: tls[0], certPath: tls[1] }),
    auth: auth === null ? null : Object.freeze({ user: auth[0], password: auth[1] }),
  });
}
