import { Redis } from 'ioredis';
import { loadConfig } from '../config.js';
import { cryptoRandom, systemClock } from '../domain/clock.js';
import { loadServerSecret, requireSharedSecret } from '../secrets.js';
import type { AdminDeps } from '../services/integrations.js';
import { migrateToLatest, openStore } from '../store/database.js';

/** Runs an operator command against the configured store (migrated first), then closes it. */
export async function withAdmin(run: (deps: AdminDeps) => Promise<void>): Promise<void> {
  const config = loadConfig();
  requireSharedSecret(config);
  const store = openStore(config.databaseUrl);
  try {
    await migrateToLatest(store.db);
    const serverSecret = await loadServerSecret(config, store.db, cryptoRandom);
    await run({ db: store.db, clock: systemClock, random: cryptoRandom, serverSecret });
  } finally {
    await store.close();
  }
}

/**
 * Tells running servers that keys or integrations changed (the 'keys' notice the admin API
 * publishes), so they drop cached keys at once. Only with Redis configured; without it (or if Redis
 * does not answer) they still stop accepting a revoked key within a second (the key cache lifetime).
 */
export async function publishKeysChanged(redisUrl: string | null = loadConfig().redisUrl): Promise<void> {
  if (!redisUrl) return;
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, retryStrategy: () => null });
  redis.on('error', () => undefined); // reported below, once
  try {
    await redis.connect();
    await redis.publish('otpg:keys', '1');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(`otpgate: could not notify running servers through Redis (${reason}); they refuse the change's keys within a second anyway\n`);
  } finally {
    redis.disconnect();
  }
}
