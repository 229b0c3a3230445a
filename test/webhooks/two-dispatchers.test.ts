import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { ADMIN_TOKEN, createIntegration, type TestIntegration } from '../helpers/runtime.js';
import { eachDialect, storeDialects } from '../helpers/stores.js';
import { emitEvent, hooks, startReceiver, type Receiver } from './support.js';

/**
 * Two processes (two runtimes on one database) sharing the deliveries: a Postgres deployment. (The
 * embedded SQLite store is one process by design.)
 */
eachDialect(storeDialects('webhooks').filter((d) => d.name === 'postgres'))('two dispatchers on one $name database', (dialect) => {
  let a: Runtime;
  let b: Runtime;
  let drop: () => Promise<void>;
  const dirs: string[] = [];
  let receiver: Receiver;
  let integration: TestIntegration;

  beforeAll(async () => {
    const db = await dialect.open();
    drop = db.drop;
    const secret = randomBytes(32).toString('base64url');
    const start = async (): Promise<Runtime> => {
      const dir = mkdtempSync(join(tmpdir(), 'otpgate-wh2-'));
      dirs.push(dir);
      const config = loadConfig({
        OTPGATE_DATA_DIR: dir,
        OTPGATE_ADMIN_TOKEN: ADMIN_TOKEN,
        OTPGATE_DATABASE_URL: db.url,
        OTPGATE_SECRET: secret,
        OTPGATE_LOG_LEVEL: 'silent',
        OTPGATE_WEBHOOK_ALLOW_INSECURE: '1',
        OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS: '300',
      });
      return createRuntime(config, { logger: pino({ level: 'silent' }), worker: false });
    };
    a = await start();
    b = await start();
    receiver = await startReceiver((_req, res) => setTimeout(() => res.writeHead(200).end(), 5));
    integration = await createIntegration(a.app);
  });
  afterAll(async () => {
    await receiver.close();
    await a.close();
    await b.close();
    await drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("a process that read 'no webhook' before another created it delivers its events once the cache lifetime has passed", async () => {
    const scope = { integrationId: integration.id, mode: 'test' as const };
    await emitEvent(b, scope, 'verification.created'); // b now caches: no endpoint
    expect((await hooks(a.app, integration.testKey).patch({ url: receiver.url })).statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 350)); // OTPGATE_WEBHOOK_ENDPOINT_CACHE_MS (no Redis to tell b)
    const late = await emitEvent(b, scope, 'verification.created');
    await b.webhooks.drain();
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([late]);
    receiver.received.length = 0;
  });

  it('sends each of 60 events exactly once while both dispatchers drain at the same time', async () => {
    const scope = { integrationId: integration.id, mode: 'test' as const };
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await emitEvent(i % 2 ? a : b, scope, 'verification.approved'));
    const [byA, byB] = await Promise.all([a.webhooks.drain(), b.webhooks.drain()]);
    expect(byA + byB).toBe(60);
    const seen = receiver.received.map((r) => String(r.headers['webhook-id']));
    expect(seen.length).toBe(60);
    expect(new Set(seen).size).toBe(60);
    expect([...seen].sort()).toEqual([...ids].sort());
    const listed = (await hooks(a.app, integration.testKey).deliveries('?limit=100')).json().data as { event_id: string; status: string; attempts: number }[];
    const ours = listed.filter((d) => ids.includes(d.event_id));
    expect(ours).toHaveLength(60);
    expect(ours.every((d) => d.status === 'succeeded' && d.attempts === 1)).toBe(true);
  });
});
