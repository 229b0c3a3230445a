import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has the defaults of API.md "Running"', () => {
    const c = loadConfig({});
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe(resolve('./data'));
    expect(c.databaseUrl).toBe(`sqlite:${resolve('./data/otpgate.db')}`);
    expect(c.sandboxSmtpPort).toBe(2525);
    expect(c.redisUrl).toBeNull();
    expect(c.adminToken).toBeNull();
    expect(c.whatsapp).toBeNull();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('puts outgoing HTTP on a thread unless OTPGATE_HTTP_THREAD=0, and refuses other values', () => {
    expect(loadConfig({}).httpThread).toBe(true);
    expect(loadConfig({ OTPGATE_HTTP_THREAD: '1' }).httpThread).toBe(true);
    expect(loadConfig({ OTPGATE_HTTP_THREAD: '0' }).httpThread).toBe(false);
    expect(() => loadConfig({ OTPGATE_HTTP_THREAD: 'yes' })).toThrow(/OTPGATE_HTTP_THREAD must be 1 or 0/);
  });

  it('reads every variable, treating empty strings as unset', () => {
    const c = loadConfig({
      OTPGATE_HOST: '0.0.0.0',
      OTPGATE_PORT: '9000',
      OTPGATE_DATA_DIR: '/tmp/og',
      OTPGATE_DATABASE_URL: '',
      OTPGATE_REDIS_URL: 'redis://127.0.0.1:6379',
      OTPGATE_SANDBOX_SMTP_PORT: '2626',
      OTPGATE_ADMIN_TOKEN: 'x'.repeat(20),
      OTPGATE_PUBLIC_URL: 'https://otp.example.com/',
      OTPGATE_TWILIO_ACCOUNT_SID: 'AC1',
      OTPGATE_TWILIO_AUTH_TOKEN: 't',
      OTPGATE_TWILIO_FROM: '+15550001111',
      OTPGATE_WHATSAPP_TOKEN: 'w',
      OTPGATE_WHATSAPP_PHONE_NUMBER_ID: '123',
      OTPGATE_WHATSAPP_TEMPLATE: 'auth_code',
      OTPGATE_SMTP_URL: 'smtp://u:p@127.0.0.1:2525',
      OTPGATE_EMAIL_FROM: 'otp@example.com',
    });
    expect(c).toMatchObject({ host: '0.0.0.0', port: 9000, dataDir: '/tmp/og', databaseUrl: 'sqlite:/tmp/og/otpgate.db', sandboxSmtpPort: 2626, publicUrl: 'https://otp.example.com' });
    expect(c.twilio).toEqual({ accountSid: 'AC1', authToken: 't', from: '+15550001111', baseUrl: 'https://api.twilio.com' });
    expect(c.whatsapp?.baseUrl).toBe('https://graph.facebook.com/v21.0');
    expect(c.email?.from).toBe('otp@example.com');
  });

  it.each([
    [{ OTPGATE_PORT: 'eighty' }, 'OTPGATE_PORT'],
    [{ OTPGATE_PORT: '70000' }, 'OTPGATE_PORT'],
    [{ OTPGATE_DATABASE_URL: 'mysql://x' }, 'OTPGATE_DATABASE_URL'],
    [{ OTPGATE_REDIS_URL: 'http://x' }, 'OTPGATE_REDIS_URL'],
    [{ OTPGATE_ADMIN_TOKEN: 'short' }, 'OTPGATE_ADMIN_TOKEN'],
    [{ OTPGATE_TWILIO_ACCOUNT_SID: 'AC1' }, 'OTPGATE_TWILIO_AUTH_TOKEN'],
  ])('refuses %o naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it("has today's values for the runtime tunables by default", () => {
    const c = loadConfig({});
    expect(c.outbox).toEqual({ leaseMs: 5_000, pollMs: 500, gatherMs: 5, batchSize: 50 });
    expect(c.apiKeyCacheMs).toBe(500);
    expect(c.sessionCache).toEqual({ maxEntries: 50_000, maxAgeMs: 60_000 });
    expect(c.redisConnectTimeoutMs).toBe(2_000);
    expect(c.postgresPoolSize).toBe(10);
    expect(c.sqliteCheckpointMs).toBe(250);
    expect(c.housekeepingIntervalMs).toBe(600_000);
    expect(c.idempotencyLeaseMs).toBe(60_000);
    expect(c.shutdownTimeoutMs).toBe(15_000);
    expect(Object.isFrozen(c.outbox) && Object.isFrozen(c.sessionCache)).toBe(true);
  });

  it('reads the runtime tunables from the environment', () => {
    const c = loadConfig({
      OTPGATE_OUTBOX_LEASE_MS: '20000',
      OTPGATE_OUTBOX_POLL_MS: '1000',
      OTPGATE_OUTBOX_GATHER_MS: '0',
      OTPGATE_OUTBOX_BATCH_SIZE: '10',
      OTPGATE_API_KEY_CACHE_MS: '2000',
      OTPGATE_SESSION_CACHE_MAX_ENTRIES: '1000',
      OTPGATE_SESSION_CACHE_MS: '5000',
      OTPGATE_REDIS_CONNECT_TIMEOUT_MS: '500',
      OTPGATE_POSTGRES_POOL_SIZE: '25',
      OTPGATE_SQLITE_CHECKPOINT_MS: '1000',
      OTPGATE_HOUSEKEEPING_INTERVAL_MS: '60000',
      OTPGATE_SHUTDOWN_TIMEOUT_MS: '30000',
      OTPGATE_IDEMPOTENCY_LEASE_MS: '1500',
    });
    expect(c.outbox).toEqual({ leaseMs: 20_000, pollMs: 1_000, gatherMs: 0, batchSize: 10 });
    expect(c).toMatchObject({ apiKeyCacheMs: 2_000, sessionCache: { maxEntries: 1_000, maxAgeMs: 5_000 }, redisConnectTimeoutMs: 500, postgresPoolSize: 25, sqliteCheckpointMs: 1_000, housekeepingIntervalMs: 60_000, shutdownTimeoutMs: 30_000, idempotencyLeaseMs: 1_500 });
  });

  it.each([
    [{ OTPGATE_OUTBOX_LEASE_MS: '999' }, 'OTPGATE_OUTBOX_LEASE_MS'],
    [{ OTPGATE_OUTBOX_POLL_MS: '5s' }, 'OTPGATE_OUTBOX_POLL_MS'],
    [{ OTPGATE_OUTBOX_BATCH_SIZE: '0' }, 'OTPGATE_OUTBOX_BATCH_SIZE'],
    [{ OTPGATE_SESSION_CACHE_MS: '10' }, 'OTPGATE_SESSION_CACHE_MS'],
    [{ OTPGATE_POSTGRES_POOL_SIZE: '-1' }, 'OTPGATE_POSTGRES_POOL_SIZE'],
    [{ OTPGATE_SQLITE_CHECKPOINT_MS: '5' }, 'OTPGATE_SQLITE_CHECKPOINT_MS'],
    [{ OTPGATE_SQLITE_CHECKPOINT_MS: '60000' }, 'OTPGATE_SQLITE_CHECKPOINT_MS'],
    [{ OTPGATE_SHUTDOWN_TIMEOUT_MS: '1200000' }, 'OTPGATE_SHUTDOWN_TIMEOUT_MS'],
    [{ OTPGATE_IDEMPOTENCY_LEASE_MS: '50' }, 'OTPGATE_IDEMPOTENCY_LEASE_MS'],
  ])('refuses the out-of-range tunable %o naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it('never echoes a password from a bad URL', () => {
    expect(() => loadConfig({ OTPGATE_SMTP_URL: 'http://user:hunter2@host', OTPGATE_EMAIL_FROM: 'a@b.co' })).toThrow(/^(?!.*hunter2)/);
  });
});
