import { loadConfig } from '../config.js';
import { cryptoRandom, systemClock } from '../domain/clock.js';
import { generateServerSecret, loadOrCreateSecret } from '../secrets.js';
import type { AdminDeps } from '../services/integrations.js';
import { migrateToLatest, openStore } from '../store/database.js';

/** Runs an operator command against the configured store (migrated first), then closes it. */
export async function withAdmin(run: (deps: AdminDeps) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const store = openStore(config.databaseUrl);
  try {
    await migrateToLatest(store.db);
    const secret = config.serverSecret ?? loadOrCreateSecret(config.dataDir, 'server-secret', generateServerSecret).value;
    await run({ db: store.db, clock: systemClock, random: cryptoRandom, serverSecret: Buffer.from(secret, 'utf8') });
  } finally {
    await store.close();
  }
}
