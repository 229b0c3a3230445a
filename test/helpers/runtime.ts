import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/domain/clock.js';
import type { PolicyPatch } from '../../src/domain/policy.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { storeEnv } from './stores.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestRuntime extends Runtime {
  dir: string;
  /** Closes the runtime and removes its data directory. */
  dispose(): Promise<void>;
}

/** A full runtime (app, store, worker) on a fresh SQLite file in a temp dir. */
export async function startRuntime(options: RuntimeOptions & { env?: Record<string, string>; clock?: Clock } = {}): Promise<TestRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'otpgate-test-'));
  const store = await storeEnv();
  const config = loadConfig({ OTPGATE_DATA_DIR: dir, OTPGATE_ADMIN_TOKEN: ADMIN_TOKEN, OTPGATE_LOG_LEVEL: 'silent', ...store.env, ...options.env });
  // The worker is off by default: tests deliver deterministically with `runtime.worker.drain()`.
  const runtime = await createRuntime(config, { logger: pino({ level: 'silent' }), worker: false, ...options });
  return Object.assign(runtime, {
    dir,
    async dispose() {
      await runtime.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export interface TestIntegration {
  id: string;
  testKey: string;
  liveKey: string;
  body: Record<string, unknown>;
}

/** Creates an integration through the operator API. */
export async function createIntegration(app: FastifyInstance, input: { name?: string; trust_level?: string; policy?: PolicyPatch } = {}): Promise<TestIntegration> {
  const res = await app.inject({ method: 'POST', url: '/admin/v1/integrations', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: { name: 'Test', ...input } });
  if (res.statusCode !== 201) throw new Error(`create integration: ${res.statusCode} ${res.body}`);
  const body = res.json() as { id: string; keys: { test: { key: string }; live: { key: string } } };
  return { id: body.id, testKey: body.keys.test.key, liveKey: body.keys.live.key, body: body as unknown as Record<string, unknown> };
}

/** A request as an integrator makes it, with its API key. */
export function api(app: FastifyInstance, key: string) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    app.inject({ method, url, headers: { 'x-api-key': key, ...headers }, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
  return {
    get: (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers),
    post: (url: string, payload?: unknown, headers?: Record<string, string>) => call('POST', url, payload, headers),
  };
}

/** The code of the latest captured sandbox message for `to`, after the worker delivered it. */
export async function latestCode(runtime: Runtime, key: string, to: string): Promise<string> {
  await runtime.worker.drain();
  const res = await api(runtime.app, key).get(`/v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`);
  const first = (res.json() as { data: { code: string }[] }).data[0];
  if (!first) throw new Error(`no sandbox message for ${to}: ${res.body}`);
  return first.code;
}
