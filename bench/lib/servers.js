// Starting the servers under test, each in its own child process.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { requestJson } from './http.js';
import { describeExit, freePort, spawnNode, stopChild, trackTempDir } from './processes.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BARE_SERVER = fileURLToPath(new URL('../bare-server.js', import.meta.url));
const FAKE_WHATSAPP = fileURLToPath(new URL('./fake-whatsapp.js', import.meta.url));
const FAKE_RECEIVER = fileURLToPath(new URL('./fake-receiver.js', import.meta.url));
// BENCH_OTPGATE_CLI: benchmark another build (e.g. a release checkout) instead of this one.
const OTPGATE_CLI = process.env.BENCH_OTPGATE_CLI ?? join(ROOT, 'dist', 'cli', 'index.js');
/**
 * Node's flags for otpgate, as `npm start` and the `otpgate` command (its shebang) give them: a young
 * generation of 64 MB semi-spaces instead of 16 (README, "Operating it").
 */
export const OTPGATE_NODE_ARGS = ['--max-semi-space-size=64'];
const STARTUP_TIMEOUT_MS = 30_000;

/**
 * Resolves with what ready(isCancelled) resolves to; rejects with the child's output if it exits
 * first or is not ready in time (then ready() should stop once isCancelled() is true).
 */
async function untilReady(child, what, ready) {
  let cancelled = false;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not ready after ${STARTUP_TIMEOUT_MS / 1000}s\n${child.output}`)), STARTUP_TIMEOUT_MS);
  });
  const exited = child.exited.then(() => {
    throw new Error(`${what} did not start: ${describeExit(child)}`);
  });
  try {
    return await Promise.race([ready(() => cancelled), exited, timeout]);
  } catch (error) {
    cancelled = true;
    await stopChild(child);
    throw error;
  } finally {
    clearTimeout(timer);
    exited.catch(() => {}); // it only matters while racing
  }
}

/** Resolves with the port a child prints alone on a line of its stdout once it listens. */
function printedPort(child) {
  return new Promise((resolve) => {
    let printed = '';
    const onData = (chunk) => {
      printed += chunk.toString();
      const match = /^(\d+)$/m.exec(printed);
      if (!match) return;
      child.stdout.off('data', onData);
      resolve(Number(match[1]));
    };
    child.stdout.on('data', onData);
  });
}

/** The bare Fastify baseline: { name, url, stop }. */
export async function startBare() {
  const child = spawnNode('bare-server', [BARE_SERVER, '0'], { ipc: true });
  const port = await untilReady(child, 'bare-server', () => printedPort(child));
  return { name: 'bare', url: `http://127.0.0.1:${port}`, child, stop: () => stopChild(child) };
}

/**
 * The fake WhatsApp Cloud API (fake-whatsapp.js) in its own process, with a random token and phone
 * number id. `latencyMs` delays each answer (default 0: a provider that costs nothing but the local
 * HTTP round trip). Returns { name, url, token, phoneNumberId, child, counts(), stop } and `env`, the
 * OTPGATE_WHATSAPP_* variables that point otpgate at it. counts() reads its GET /count.
 */
export async function startFakeWhatsApp({ latencyMs = 0 } = {}) {
  const token = `EAAB${randomBytes(24).toString('hex')}`;
  const phoneNumberId = String(100_000_000_000_000 + Math.floor(Math.random() * 800_000_000_000_000));
  const env = { ...process.env, FAKE_WHATSAPP_TOKEN: token, FAKE_WHATSAPP_PHONE_NUMBER_ID: phoneNumberId, FAKE_WHATSAPP_LATENCY_MS: String(latencyMs) };
  const child = spawnNode('fake-whatsapp', [FAKE_WHATSAPP, '0'], { env, ipc: true });
  const port = await untilReady(child, 'fake-whatsapp', () => printedPort(child));
  const url = `http://127.0.0.1:${port}`;
  return {
    name: 'fake-whatsapp',
    url,
    token,
    phoneNumberId,
    child,
    env: {
      OTPGATE_WHATSAPP_TOKEN: token,
      OTPGATE_WHATSAPP_PHONE_NUMBER_ID: phoneNumberId,
      OTPGATE_WHATSAPP_TEMPLATE: 'otpgate_bench_auth',
      OTPGATE_WHATSAPP_BASE_URL: url,
    },
    counts: () => requestJson('GET', `${url}/count`, { timeoutMs: 5000 }),
    stop: () => stopChild(child),
  };
}

/**
 * The webhook receiver (fake-receiver.js) in its own process: { name, url (its POST /hook), child,
 * counts(), stop, env }; `env` lets otpgate send to a plain-HTTP loopback URL (OTPGATE_WEBHOOK_ALLOW_INSECURE).
 */
export async function startFakeReceiver() {
  const child = spawnNode('fake-receiver', [FAKE_RECEIVER, '0'], { ipc: true });
  const port = await untilReady(child, 'fake-receiver', () => printedPort(child));
  const root = `http://127.0.0.1:${port}`;
  return {
    name: 'fake-receiver',
    url: `${root}/hook`,
    child,
    env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1' },
    counts: () => requestJson('GET', `${root}/count`, { timeoutMs: 5000 }),
    stop: () => stopChild(child),
  };
}

/** Polls GET url until it answers 200. */
async function pollHealthy(url, isCancelled) {
  while (!isCancelled()) {
    try {
      await requestJson('GET', url, { timeoutMs: 1000 });
      return;
    } catch {
      await sleep(100);
    }
  }
}

/** Polls GET /readyz until it reports Redis as reachable; throws with its last answer after `patienceMs`. */
async function pollRedisReady(url, isCancelled, patienceMs = 10_000) {
  const giveUpAt = Date.now() + patienceMs;
  let last = 'no answer';
  while (!isCancelled()) {
    try {
      const ready = await requestJson('GET', `${url}/readyz`, { timeoutMs: 1000 });
      if (ready?.checks?.redis === 'ok') return;
      last = JSON.stringify(ready);
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > giveUpAt) throw new Error(`otpgate at ${url} does not reach Redis (set OTPGATE_BENCH_REDIS_URL): /readyz says ${last}`);
    await sleep(200);
  }
}

/**
 * otpgate (`node dist/cli/index.js serve`) on a fresh data directory and free port, with a random
 * admin token. OTPGATE_* variables of the calling shell are not passed on, so a run never touches a
 * developer's database; `extraEnv` (e.g. OTPGATE_DATABASE_URL, OTPGATE_ADMIN_TOKEN) is applied last.
 * With OTPGATE_REDIS_URL set it is ready only once /readyz reports Redis reachable (otpgate would
 * otherwise quietly fall back to the database, which is not the configuration asked for).
 * `nodeArgs` go to node after OTPGATE_NODE_ARGS, before the script (e.g. --cpu-prof); `cli` is the build to run (default: this one's).
 * Returns { name, url, adminToken, dataDir, child, stop }.
 */
export async function startOtpgate(extraEnv = {}, { name = 'otpgate', nodeArgs = [], serveArgs = [], cli = OTPGATE_CLI } = {}) {
  if (!existsSync(cli)) throw new Error(`${cli} not found: run "npm run build" first (npm run bench does)`);
  const dataDir = await mkdtemp(join(tmpdir(), 'otpgate-bench-'));
  trackTempDir(dataDir);
  const port = await freePort();
  const adminToken = extraEnv.OTPGATE_ADMIN_TOKEN ?? randomBytes(24).toString('hex');
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([variable]) => !variable.startsWith('OTPGATE_')));
  const env = {
    ...inherited,
    OTPGATE_DATA_DIR: dataDir,
    OTPGATE_PORT: String(port),
    OTPGATE_HOST: '127.0.0.1',
    OTPGATE_ADMIN_TOKEN: adminToken,
    OTPGATE_LOG_LEVEL: 'warn',
    // The sandbox SMTP listener defaults to 2525: keep concurrent runs (and dev servers) apart.
    OTPGATE_SANDBOX_SMTP_PORT: String(await freePort()),
    ...extraEnv,
  };
  const child = spawnNode(name, [...OTPGATE_NODE_ARGS, ...nodeArgs, cli, 'serve', ...serveArgs], { env, cwd: ROOT });
  const url = `http://127.0.0.1:${port}`;
  await untilReady(child, name, async (isCancelled) => {
    await pollHealthy(`${url}/healthz`, isCancelled);
    if (env.OTPGATE_REDIS_URL) await pollRedisReady(url, isCancelled);
  });
  return { name, url, adminToken, dataDir, child, stop: () => stopChild(child) };
}

/**
 * `otpgate worker` (the outbox worker and the webhook dispatcher, no HTTP server) on the store of
 * `extraEnv`; resolves once it says it runs. Returns { name, child, stop }.
 */
export async function startOtpgateWorker(extraEnv, { name = 'otpgate-worker' } = {}) {
  if (!existsSync(OTPGATE_CLI)) throw new Error(`${OTPGATE_CLI} not found: run "npm run build" first (npm run bench does)`);
  const dataDir = await mkdtemp(join(tmpdir(), 'otpgate-bench-'));
  trackTempDir(dataDir);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([variable]) => !variable.startsWith('OTPGATE_')));
  const env = { ...inherited, OTPGATE_DATA_DIR: dataDir, OTPGATE_LOG_LEVEL: 'warn', OTPGATE_SANDBOX_SMTP_PORT: 'off', ...extraEnv };
  const child = spawnNode(name, [...OTPGATE_NODE_ARGS, OTPGATE_CLI, 'worker'], { env, cwd: ROOT });
  await untilReady(child, name, () => new Promise((resolve) => {
    let printed = '';
    const onData = (chunk) => {
      printed += chunk.toString();
      if (!/otpgate worker \S+ running/.test(printed)) return;
      child.stdout.off('data', onData);
      resolve();
    };
    child.stdout.on('data', onData);
  }));
  return { name, child, stop: () => stopChild(child) };
}
