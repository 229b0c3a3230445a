import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';

describe('sandbox SMTP settings', () => {
  it('defaults: port 2525 on OTPGATE_HOST, 1 MiB, 100 clients, 20 recipients, 60 s, no STARTTLS, no AUTH', () => {
    const c = loadConfig({ OTPGATE_HOST: '0.0.0.0' });
    expect(c.sandboxSmtpPort).toBe(2525);
    expect(c.sandboxSmtp).toEqual({ host: '0.0.0.0', maxMessageBytes: 1_048_576, maxClients: 100, maxRecipients: 20, socketTimeoutMs: 60_000, tls: null, auth: null });
    expect(Object.isFrozen(c.sandboxSmtp)).toBe(true);
  });

  it('reads every variable; `off` (any case) turns the listener off and 0 asks for any free port', () => {
    const c = loadConfig({
      OTPGATE_SANDBOX_SMTP_PORT: '0',
      OTPGATE_SANDBOX_SMTP_HOST: '10.0.0.5',
      OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES: '2048',
      OTPGATE_SANDBOX_SMTP_MAX_CLIENTS: '7',
      OTPGATE_SANDBOX_SMTP_MAX_RECIPIENTS: '3',
      OTPGATE_SANDBOX_SMTP_SOCKET_TIMEOUT_MS: '5000',
      OTPGATE_SANDBOX_SMTP_TLS_KEY: '/etc/otpgate/key.pem',
      OTPGATE_SANDBOX_SMTP_TLS_CERT: '/etc/otpgate/cert.pem',
      OTPGATE_SANDBOX_SMTP_USER: 'ci',
      OTPGATE_SANDBOX_SMTP_PASSWORD: 'long enough',
    });
    expect(c.sandboxSmtpPort).toBe(0);
    expect(c.sandboxSmtp).toEqual({
      host: '10.0.0.5',
      maxMessageBytes: 2048,
      maxClients: 7,
      maxRecipients: 3,
      socketTimeoutMs: 5000,
      tls: { keyPath: '/etc/otpgate/key.pem', certPath: '/etc/otpgate/cert.pem' },
      auth: { user: 'ci', password: 'long enough' },
    });
    expect(loadConfig({ OTPGATE_SANDBOX_SMTP_PORT: 'OFF' }).sandboxSmtpPort).toBeNull();
    expect(loadConfig({ OTPGATE_SANDBOX_SMTP_PORT: '' }).sandboxSmtpPort).toBe(2525);
  });

  it.each([
    [{ OTPGATE_SANDBOX_SMTP_PORT: 'no' }, /OTPGATE_SANDBOX_SMTP_PORT/],
    [{ OTPGATE_SANDBOX_SMTP_PORT: '70000' }, /OTPGATE_SANDBOX_SMTP_PORT/],
    [{ OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES: '100' }, /OTPGATE_SANDBOX_SMTP_MAX_MESSAGE_BYTES/],
    [{ OTPGATE_SANDBOX_SMTP_MAX_CLIENTS: '0' }, /OTPGATE_SANDBOX_SMTP_MAX_CLIENTS/],
    [{ OTPGATE_SANDBOX_SMTP_TLS_KEY: '/k.pem' }, /set OTPGATE_SANDBOX_SMTP_TLS_CERT/],
    [{ OTPGATE_SANDBOX_SMTP_TLS_CERT: '/c.pem' }, /set OTPGATE_SANDBOX_SMTP_TLS_KEY/],
    [{ OTPGATE_SANDBOX_SMTP_USER: 'ci' }, /set OTPGATE_SANDBOX_SMTP_PASSWORD/],
    [{ OTPGATE_SANDBOX_SMTP_USER: 'ci', OTPGATE_SANDBOX_SMTP_PASSWORD: 'short' }, /at least 8/],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
