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
