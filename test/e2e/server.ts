/**
 * Black-box harness: starts the built server as a child process exactly as `npm start` runs it
 * (`node dist/cli/index.js serve`), waits for it to answer GET /healthz, captures its output and
 * always kills it on teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'index.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerOptions {
  /** The data directory; a fresh temp dir (removed on teardown) when omitted. */
  dataDir?: string;
  /** `OTPGATE_ADMIN_TOKEN`; `null` leaves it unset so the server generates one. Random when omitted. */
  adminToken?: string | null;
  /** Extra arguments after `serve` (e.g. `--no-worker`). */
  args?: string[];
  /** Extra environment (wins over the defaults). */
  env?: Record<string, string>;
  /** How long to wait for /healthz (ms). */
  readyTimeoutMs?: number;
}

export interface Server {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** The admin token given in the environment, or null when the server generated its own. */
  readonly adminToken: string | null;
  readonly process: ChildProcess;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` and waits for the exit; SIGKILLs after `timeoutMs` if still running. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<Exit>;
}

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
/** The servers started by the current test, to dump their output when it fails. */
let startedThisTest: Server[] = [];

// Belt and braces: never leave a server behind, even if the worker dies before teardown.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port that was free a moment ago: listen on port 0, read it, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A fresh, empty data directory, removed on teardown. */
export function makeDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'otpgate-e2e-'));
  tempDirs.add(dir);
  return dir;
}

export const randomAdminToken = (): string => `e2e-admin-${randomBytes(18).toString('base64url')}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The environment of the child: the parent's minus any OTPGATE_* setting, plus ours. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('OTPGATE_') && name !== 'NODE_OPTIONS') env[name] = value;
  }
  return { ...env, ...extra };
}

function spawnServer(options: ServerOptions, dataDir: string, port: number, smtpPort: number): Server {
  const adminToken = options.adminToken === undefined ? randomAdminToken() : options.adminToken;
  const env = childEnv({
    OTPGATE_DATA_DIR: dataDir,
    OTPGATE_PORT: String(port),
    OTPGATE_HOST: '127.0.0.1',
    OTPGATE_LOG_LEVEL: 'warn',
    // Not used by every build, but never let two test servers fight over the default 2525.
    OTPGATE_SANDBOX_SMTP_PORT: String(smtpPort),
    ...(adminToken === null ? {} : { OTPGATE_ADMIN_TOKEN: adminToken }),
    ...options.env,
  });
  const child = spawn(process.execPath, [CLI, 'serve', ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<Exit> => {
    if (isRunning()) child.kill(signal);
    const timer = setTimeout(() => {
      if (isRunning()) child.kill('SIGKILL');
    }, timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    adminToken,
    process: child,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop,
    kill: () => stop('SIGKILL'),
  };
}

/** Polls GET /healthz until it answers 200; fails early if the process exits. */
async function waitHealthy(server: Server, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: Exit | null = null;
  void server.exited.then((e) => (exit = e));
  while (Date.now() < deadline) {
    if (exit) break;
    try {
      const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return;
      await res.arrayBuffer();
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  const what = exit ? `exited (${JSON.stringify(exit)})` : `did not answer /healthz within ${timeoutMs} ms`;
  throw new Error(`otpgate server ${what}\n--- stdout ---\n${server.stdout()}\n--- stderr ---\n${server.stderr()}`);
}

/** Starts a server and waits until it is healthy. Retries on a port taken in the meantime. */
export async function startServer(options: ServerOptions = {}): Promise<Server> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: the vitest global setup should have built dist/`);
  const dataDir = options.dataDir ?? makeDataDir();
  for (let attempt = 1; ; attempt++) {
    const server = spawnServer(options, dataDir, await freePort(), await freePort());
    startedThisTest.push(server);
    try {
      await waitHealthy(server, options.readyTimeoutMs ?? 20_000);
      return server;
    } catch (error) {
      await server.kill();
      if (attempt < 3 && /EADDRINUSE/.test(server.stdout() + server.stderr())) continue;
      throw error;
    }
  }
}

/** Kills every server still running and removes the temp data dirs. Safe to call twice. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * Registers the teardown in the calling test file: after every test, all servers are killed
 * (pass or fail) and their data dirs removed; a failing test dumps its servers' output.
 */
export function useServers(): void {
  beforeEach(({ onTestFailed }) => {
    startedThisTest = [];
    const mine = startedThisTest;
    onTestFailed(() => {
      for (const s of mine) {
        process.stderr.write(`\n=== otpgate ${s.url} (data ${s.dataDir}) ===\n--- stdout ---\n${s.stdout()}\n--- stderr ---\n${s.stderr()}\n`);
      }
    });
  });
  afterEach(async () => {
    await stopAllServers();
  });
}
