/**
 * Shared harness of the scale-out suite: a throwaway Postgres database per test, the shared Redis,
 * otpgate `serve` processes (through the e2e harness) and `worker` processes, all killed and dropped
 * after every test, pass or fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';
import { pollUntil, request, sandboxMessages, sleep, type Reply, type SandboxMessage } from '../e2e/client.js';
import { CLI, REPO_ROOT, makeDataDir, randomAdminToken, startServer, stopAllServers, useServers, type Exit, type Server, type ServerOptions } from '../e2e/server.js';
import { createThrowawayDatabase } from '../helpers/stores.js';
import type { Proxy } from './proxy.js';

const DATABASE_URL_ENV = process.env.OTPGATE_TEST_DATABASE_URL;
const REDIS_URL_ENV = process.env.OTPGATE_TEST_REDIS_URL;
/** Why the scale-out suite is skipped here, or null when it runs. */
const SKIP_REASON =
  DATABASE_URL_ENV && REDIS_URL_ENV
    ? null
    : 'the scale-out suite needs Postgres and Redis: set OTPGATE_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) and OTPGATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)';
export const DATABASE_URL: string = DATABASE_URL_ENV ?? '';
export const REDIS_URL: string = REDIS_URL_ENV ?? '';

/** What every process of one test's deployment shares. */
export interface Deployment {
  databaseUrl: string;
  secret: string;
  adminToken: string;
  /** The environment of a process of this deployment (Redis included unless `redisUrl: null`). */
  env(overrides?: { databaseUrl?: string; redisUrl?: string | null }): Record<string, string>;
  /** A read-only look at the deployment's database from outside (closed on teardown). */
  pool: pg.Pool;
}

export interface Worker {
  /** The outbox worker id it printed (`wrk_…`), as stored in `outbox.locked_by`. */
  readonly id: string;
  readonly process: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<Exit>;
  signal(signal: NodeJS.Signals): void;
  kill(): Promise<Exit>;
}

const drops: Array<() => Promise<void>> = [];
const workers = new Set<ChildProcess>();
const proxies = new Set<Proxy>();
let startedWorkers: Worker[] = [];

process.on('exit', () => {
  for (const child of workers) child.kill('SIGKILL');
});

/** Registers the teardown: servers and workers killed, proxies closed, databases dropped. */
export function useScale(): void {
  // First: without the services every test of the suite shows as skipped, with the reason.
  beforeEach((context) => {
    if (SKIP_REASON) context.skip(SKIP_REASON);
  });
  useServers();
  beforeEach(({ onTestFailed }) => {
    startedWorkers = [];
    const mine = startedWorkers;
    onTestFailed(() => {
      for (const w of mine) process.stderr.write(`\n=== otpgate worker ${w.id} (pid ${w.pid}) ===\n--- stdout ---\n${w.stdout()}\n--- stderr ---\n${w.stderr()}\n`);
    });
  });
  afterEach(async () => {
    await Promise.all([...workers].map((child) => killChild(child)));
    await stopAllServers();
    await Promise.all([...proxies].map((p) => p.close()));
    proxies.clear();
    const pending = drops.splice(0);
    for (const drop of pending.reverse()) await drop().catch((err: unknown) => console.error('scale teardown:', err));
  });
}

function killChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL'); // also ends a SIGSTOPped process
  });
}

/** Proxies created by a test are closed on teardown. */
export function track(proxy: Proxy): Proxy {
  proxies.add(proxy);
  return proxy;
}

/** A fresh database and the secrets every process of the test shares. */
export async function deployment(): Promise<Deployment> {
  const db = await createThrowawayDatabase(DATABASE_URL);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => {});
  drops.push(async () => {
    await pool.end().catch(() => {});
    await db.drop();
  });
  const secret = `scale-secret-${randomBytes(24).toString('base64url')}`;
  const adminToken = randomAdminToken();
  return {
    databaseUrl: db.url,
    secret,
    adminToken,
    pool,
    env(overrides = {}) {
      const redisUrl = overrides.redisUrl === undefined ? REDIS_URL : overrides.redisUrl;
      return {
        OTPGATE_DATABASE_URL: overrides.databaseUrl ?? db.url,
        OTPGATE_SECRET: secret,
        OTPGATE_ADMIN_TOKEN: adminToken,
        OTPGATE_LOG_LEVEL: 'warn',
        ...(redisUrl === null ? {} : { OTPGATE_REDIS_URL: redisUrl }),
      };
    },
  };
}

/** `node dist/cli/index.js serve [args]` on the deployment, healthy on return. */
export function startNode(dep: Deployment, options: ServerOptions & { databaseUrl?: string; redisUrl?: string | null } = {}): Promise<Server> {
  const { databaseUrl, redisUrl, env, ...rest } = options;
  return startServer({ readyTimeoutMs: 30_000, ...rest, adminToken: dep.adminToken, env: { ...dep.env({ databaseUrl, redisUrl }), ...env } });
}

/** `node dist/cli/index.js worker` on the deployment; resolves once it printed its id. */
export async function startWorker(dep: Deployment, timeoutMs = 30_000): Promise<Worker> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('OTPGATE_') && name !== 'NODE_OPTIONS') env[name] = value;
  Object.assign(env, dep.env(), { OTPGATE_DATA_DIR: makeDataDir() });
  const child = spawn(process.execPath, [CLI, 'worker'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  workers.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => (workers.delete(child), resolve({ code, signal }))));
  let exit: Exit | null = null;
  void exited.then((e) => (exit = e));
  const deadline = Date.now() + timeoutMs;
  let id: string | undefined;
  while (!(id = /otpgate worker (wrk_\w+) running/.exec(out)?.[1])) {
    if (exit || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`otpgate worker ${exit ? `exited (${JSON.stringify(exit)})` : 'did not start'}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`);
    }
    await sleep(25);
  }
  const worker: Worker = {
    id,
    process: child,
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    exited,
    signal: (signal) => void child.kill(signal),
    kill: async () => (await killChild(child), exited),
  };
  startedWorkers.push(worker);
  return worker;
}

/** A random Brazilian mobile number block: `phone(i)` is distinct for each i < 10,000. */
export function phoneBlock(): (i: number) => string {
  const prefix = `+55119${randomInt(6_000, 10_000)}`; // +55 11 9XXXX-iiii
  return (i: number) => `${prefix}${String(i % 10_000).padStart(4, '0')}`; // wraps after 10,000: still a valid number
}

/** Every captured sandbox message (all pages, `limit=100`, following `next_cursor`). */
export async function allSandboxMessages(server: Server, key: string): Promise<SandboxMessage[]> {
  const all: SandboxMessage[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1_000; page++) {
    const query = new URLSearchParams({ limit: '100' });
    if (cursor) query.set('cursor', cursor);
    const res = await request(server, 'GET', `/v1/sandbox/messages?${query}`, { key });
    if (res.status !== 200) throw new Error(`sandbox list: ${res.status} ${res.text}`);
    all.push(...(res.body.data as SandboxMessage[]));
    cursor = res.body.next_cursor as string | null;
    if (!cursor) return all;
  }
  throw new Error('sandbox list: more than 1,000 pages');
}

/** Verification id → how many captured messages carry it. */
export function countByVerification(messages: SandboxMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m.verification_id ?? '(none)', (counts.get(m.verification_id ?? '(none)') ?? 0) + 1);
  return counts;
}

/** The outcome of one HTTP call that may fail at the socket: a reply, or the error and when. */
export type Outcome = { reply: Reply; ms: number } | { error: string; ms: number };

/** Runs `call` and records what came back (never throws), with the elapsed time. */
export async function attempt(call: () => Promise<Reply>): Promise<Outcome> {
  const started = Date.now();
  try {
    const reply = await call();
    return { reply, ms: Date.now() - started };
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
    return { error: `${err instanceof Error ? err.message : String(err)}${cause}`, ms: Date.now() - started };
  }
}

/** Is the process still running (not exited and not killed)? */
export const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Waits for the captured message of verification `id` (to `to`) and returns its code. */
export async function codeOf(server: Server, key: string, to: string, id: string, timeoutMs = 10_000): Promise<string> {
  const messages = await pollUntil(() => sandboxMessages(server, key, to), (m) => m.some((x) => x.verification_id === id), timeoutMs);
  const code = messages.find((m) => m.verification_id === id)?.code;
  if (!code) throw new Error(`no sandbox message for ${id} within ${timeoutMs} ms: ${JSON.stringify(messages)}`);
  return code;
}
