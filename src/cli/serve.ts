import { loadConfig } from '../config.js';
import { createRuntime } from '../runtime.js';
import { stopOnSignals } from './shutdown.js';
import { countIntegrations } from '../store/integrations-repo.js';
import { createIntegration } from '../services/integrations.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Starts the HTTP server, the sandbox SMTP listener (unless `off`) and, unless told not to, the outbox worker; stops gracefully on SIGTERM/SIGINT. */
export async function serve(options: { worker: boolean }): Promise<void> {
  const config = loadConfig();
  const runtime = await createRuntime(config, { worker: options.worker });
  const { app, store, services } = runtime;

  // First start on an empty store: a demo integration to try the API with at once.
  if ((await countIntegrations(store.db)) === 0) {
    const demo = await createIntegration({ db: store.db, clock: services.clock, random: services.random, serverSecret: services.serverSecret }, { name: 'Demo' });
    say('otpgate: created a demo integration on this empty store.');
    say(`  integration id:  ${demo.id}`);
    say(`  test API key:    ${demo.keys_issued.test.key}   (shown once; test mode captures messages in the sandbox)`);
  }
  if (runtime.adminTokenCreated) {
    say(`  admin token:     ${runtime.adminToken}   (kept in ${config.dataDir}/admin-token)`);
  }

  // The SMTP listener first: a port it cannot bind stops the start before HTTP is served.
  const smtp = await runtime.listenSmtp();
  const address = await app.listen({ host: config.host, port: config.port });
  say(`otpgate listening on ${address} (store: ${store.dialect}${options.worker ? '' : ', no worker'}); docs at ${address}/docs`);
  if (smtp) say(`sandbox SMTP listening on ${smtp.host}:${smtp.port} (mail for sandbox inboxes only; OTPGATE_SANDBOX_SMTP_PORT=off turns it off)`);

  stopOnSignals(runtime, 'server');
}
