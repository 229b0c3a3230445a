#!/usr/bin/env -S node --max-semi-space-size=64
import { Command } from 'commander';
import { ConfigError } from '../config.js';
import { serve } from './serve.js';
import { runWorker } from './worker.js';
import { publishKeysChanged, withAdmin } from './with-admin.js';
import { createIntegration, createKey, deleteKey, listIntegrationsPage } from '../services/integrations.js';
import { migrateToLatest, openStore } from '../store/database.js';
import { loadConfig } from '../config.js';
import { SigningKeyRing } from '../tokens/signing-keys.js';
import { checkProviders, formatProvidersReport } from './providers-check.js';

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

const program = new Command();
program.name('otpgate').description('Self-hosted OTP verification gateway').version('0.1.0');

program
  .command('serve')
  .description('run the HTTP API (and the outbox worker)')
  .option('--no-worker', 'serve HTTP only; another process runs the workers')
  .action(async (opts: { worker: boolean }) => serve({ worker: opts.worker }));

program
  .command('worker')
  .description('run the outbox workers only (no HTTP server)')
  .action(async () => runWorker());

program
  .command('migrate')
  .description('bring the database schema up to date')
  .action(async () => {
    const store = openStore(loadConfig().databaseUrl);
    try {
      const applied = await migrateToLatest(store.db);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
    } finally {
      await store.close();
    }
  });

const integrations = program.command('integrations').description('manage integrations');
integrations
  .command('create')
  .requiredOption('--name <name>', 'display name')
  .option('--trust-level <level>', 'strict | relaxed | trusted', 'strict')
  .description('create an integration; prints its test and live keys once')
  .action(async (opts: { name: string; trustLevel: string }) => {
    if (!['strict', 'relaxed', 'trusted'].includes(opts.trustLevel)) throw new ConfigError('--trust-level must be strict, relaxed or trusted');
    await withAdmin(async (deps) => print(await createIntegration(deps, { name: opts.name, trust_level: opts.trustLevel as 'strict' })));
  });
integrations
  .command('list')
  .option('--limit <n>', 'how many', '100')
  .description('list integrations, newest first')
  .action(async (opts: { limit: string }) => {
    await withAdmin(async (deps) => {
      const page = await listIntegrationsPage(deps, Math.min(100, Math.max(1, Number(opts.limit) || 100)), undefined);
      print(page.ok ? page.value.data.map((i) => ({ id: i.id, name: i.name, trust_level: i.trust_level, created_at: i.created_at })) : page.problem);
    });
  });

const keys = program.command('keys').description('manage API keys');
keys
  .command('create <integration_id>')
  .option('--mode <mode>', 'test | live', 'test')
  .description('issue a key; prints it and its signing secret once')
  .action(async (integrationId: string, opts: { mode: string }) => {
    if (opts.mode !== 'test' && opts.mode !== 'live') throw new ConfigError('--mode must be test or live');
    await withAdmin(async (deps) => {
      const result = await createKey(deps, integrationId, opts.mode as 'test');
      print(result.ok ? result.value : result.problem);
      if (!result.ok) process.exitCode = 1;
    });
  });
keys
  .command('revoke <integration_id> <key_id>')
  .description('revoke a key at once')
  .action(async (integrationId: string, keyId: string) => {
    await withAdmin(async (deps) => {
      const result = await deleteKey(deps, integrationId, keyId);
      if (result.ok) await publishKeysChanged(); // running servers drop the key now, not at their cache's expiry
      print(result.ok ? result.value : result.problem);
      if (!result.ok) process.exitCode = 1;
    });
  });

program
  .command('signing-keys')
  .description('access-token signing keys')
  .command('rotate')
  .description('make a new Ed25519 key active; older keys stay in the JWKS until their tokens expire (24 h)')
  .action(async () => {
    await withAdmin(async (deps) => {
      const ring = new SigningKeyRing(deps.db, deps.clock, deps.random, deps.serverSecret);
      const kid = await ring.rotate();
      print({ active_kid: kid, published: (await ring.jwks()).keys.map((k) => k.kid) });
    });
  });

program
  .command('providers')
  .description('live providers')
  .command('check')
  .option('--json', 'print the report as JSON')
  .description('prove each configured provider’s credentials with a read-only call (no message is sent); exits 1 when one fails')
  .action(async (opts: { json?: boolean }) => {
    const report = await checkProviders(loadConfig());
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatProvidersReport(report));
    if (report.providers.some((p) => !p.ok)) process.exitCode = 1;
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`otpgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
