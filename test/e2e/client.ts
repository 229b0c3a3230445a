/** Small HTTP client helpers for the black-box tests (global fetch against a listening server). */
import type { Server } from './server.js';

export interface Reply {
  status: number;
  headers: Headers;
  contentType: string;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: Record<string, unknown> & { data?: unknown };
}

export async function toReply(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, contentType: res.headers.get('content-type') ?? '', text, body };
}

export async function request(
  server: Server,
  method: string,
  path: string,
  options: { key?: string; bearer?: string; json?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers['x-api-key'] = options.key;
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  let body: string | undefined;
  if (options.json !== undefined) body = JSON.stringify(options.json);
  if (options.rawBody !== undefined) body = options.rawBody;
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${server.url}${path}`, { method, headers, body, signal: AbortSignal.timeout(15_000) });
  return toReply(res);
}

export interface Integration {
  id: string;
  testKey: string;
}

/** Creates an integration through the operator API with the server's admin token. */
export async function createIntegration(server: Server, input: { name?: string; policy?: Record<string, unknown> } = {}, adminToken?: string): Promise<Integration> {
  const token = adminToken ?? server.adminToken;
  if (!token) throw new Error('no admin token');
  const res = await request(server, 'POST', '/admin/v1/integrations', { bearer: token, json: { name: 'E2E', ...input } });
  if (res.status !== 201) throw new Error(`create integration: ${res.status} ${res.text}`);
  const keys = res.body.keys as { test: { key: string } };
  return { id: res.body.id as string, testKey: keys.test.key };
}

export const sendCode = (server: Server, key: string, identifier: string): Promise<Reply> =>
  request(server, 'POST', '/v1/verifications', { key, json: { identifier } });

export const checkCode = (server: Server, key: string, identifier: string, code: string): Promise<Reply> =>
  request(server, 'POST', '/v1/verifications/check', { key, json: { identifier, code } });

export interface SandboxMessage {
  id: string;
  to: string;
  channel: string;
  body: string;
  code: string | null;
  verification_id: string | null;
  received_at: string;
}

/** One page (up to 100) of captured sandbox messages, optionally for one recipient. */
export async function sandboxMessages(server: Server, key: string, to?: string): Promise<SandboxMessage[]> {
  const query = new URLSearchParams({ limit: '100' });
  if (to !== undefined) query.set('to', to);
  const res = await request(server, 'GET', `/v1/sandbox/messages?${query}`, { key });
  if (res.status !== 200) throw new Error(`sandbox list: ${res.status} ${res.text}`);
  return res.body.data as SandboxMessage[];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 100 ms until it returns a value that `done` accepts, or the time is up. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!done(last) && Date.now() < deadline) {
    await sleep(100);
    last = await probe();
  }
  return last;
}

/** Waits (up to `timeoutMs`) for the first captured message to `to` and returns its code. */
export async function waitForCode(server: Server, key: string, to: string, timeoutMs = 5_000): Promise<string> {
  const messages = await pollUntil(() => sandboxMessages(server, key, to), (m) => m.length > 0, timeoutMs);
  const code = messages[0]?.code;
  if (!code) throw new Error(`no sandbox message with a code for ${to} within ${timeoutMs} ms: ${JSON.stringify(messages)}`);
  return code;
}

/** A code of the same length that is certainly wrong. */
export const wrongCode = (code: string): string => code.replace(/[0-9]/g, (d) => String((Number(d) + 1) % 10));
