/* global fetch, AbortSignal */
// The few otpgate API calls the benchmark makes outside the load itself.
import { setTimeout as sleep } from 'node:timers/promises';
import { URLSearchParams } from 'node:url';
import { requestJson } from './http.js';

/** Limits high enough that the load never trips them: the benchmark measures the work, not a 429. */
const BENCH_POLICY = {
  limits: { send_per_minute: 1_000_000, check_per_minute: 1_000_000, resend_cooldown_s: 0 },
  lockout: { max_failures: 1_000_000 },
};

/**
 * The live phase's integration: the same limits, every channel in the default order (only WhatsApp
 * has a provider, the fake one), and the policy's default fraud guard (monitor: it counts sends per
 * country and number range, and only logs and counts what it finds suspect).
 */
export const LIVE_BENCH_POLICY = { ...BENCH_POLICY, channels: ['whatsapp', 'sms', 'email'] };

/**
 * Creates an integration through the admin API (by default the bench integration); returns its API
 * key of `mode` (test or live).
 */
export async function createBenchIntegration(otpgate, { name = 'bench', policy = BENCH_POLICY, mode = 'test' } = {}) {
  const created = await requestJson('POST', `${otpgate.url}/admin/v1/integrations`, {
    headers: { authorization: `Bearer ${otpgate.adminToken}` },
    body: { name, policy },
    expect: 201,
  });
  const key = created?.keys?.[mode]?.key;
  if (typeof key !== 'string') throw new Error(`POST /admin/v1/integrations: no keys.${mode}.key in ${JSON.stringify(created)}`);
  return key;
}

/** Points the key's integration (in the key's mode) at a webhook receiver for `events` (PATCH /v1/webhook). */
export async function configureWebhook(otpgate, apiKey, url, events) {
  await requestJson('PATCH', `${otpgate.url}/v1/webhook`, {
    headers: { 'x-api-key': apiKey },
    body: { url, events, is_active: true },
    expect: 200,
  });
}

/**
 * The samples of the Prometheus metrics named in `names` from GET /metrics: a list of
 * { name, labels: { label: value }, value }.
 */
export async function readMetrics(otpgate, names) {
  const response = await fetch(`${otpgate.url}/metrics`, { headers: { authorization: `Bearer ${otpgate.adminToken}` }, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics -> ${response.status}: ${text.slice(0, 300)}`);
  const samples = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || !names.includes(match[1])) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, label, value]) => [label, value]));
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Every captured sandbox message as a Map identifier -> code, newest message per identifier. */
async function readSandboxCodes(otpgate, apiKey) {
  const codes = new Map();
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: '100' });
    if (cursor) query.set('cursor', cursor);
    const page = await requestJson('GET', `${otpgate.url}/v1/sandbox/messages?${query}`, { headers: { 'x-api-key': apiKey } });
    if (!Array.isArray(page?.data)) throw new Error(`GET /v1/sandbox/messages: no data array in ${JSON.stringify(page).slice(0, 500)}`);
    for (const message of page.data) {
      // Newest first: the first message seen for an identifier holds its live code.
      if (typeof message.code === 'string' && !codes.has(message.to)) codes.set(message.to, message.code);
    }
    cursor = page.next_cursor ?? null;
  } while (cursor);
  return codes;
}

/**
 * Waits for delivery (asynchronous) to capture at least `expected` messages and returns the
 * identifier/code pairs. Gives up after `patienceMs` without a new message, returning what it has.
 */
export async function collectSandboxCodes(otpgate, apiKey, expected, { patienceMs = 30_000, pollMs = 500 } = {}) {
  let codes = new Map();
  let lastProgress = Date.now();
  for (;;) {
    const seen = await readSandboxCodes(otpgate, apiKey);
    if (seen.size > codes.size) lastProgress = Date.now();
    codes = seen;
    if (codes.size >= expected || Date.now() - lastProgress > patienceMs) break;
    await sleep(pollMs);
  }
  return [...codes].map(([identifier, code]) => ({ identifier, code }));
}
