/**
 * `GET /v1/sandbox/inboxes/{id}?wait=`: held until a new code lands (from outside or from a test-mode
 * send through the outbox worker), answered at the end of the wait when none does, `after=` so no
 * code is missed between two calls, woken by a closing inbox, released by a client that goes away,
 * and ended at once by a graceful shutdown.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { deliverInbound } from '../../src/sandbox/inbox-intake.js';
import { inboxSettings } from '../../src/services/inbox-settings.js';
import { frozenClock } from '../helpers/clock.js';
import { api, createIntegration, startRuntime, type TestRuntime } from '../helpers/runtime.js';
import { eventually } from '../events/support.js';
import { expectJson, send, useRuntime } from '../routes/support.js';
import { createInbox, getInbox, inbound, type InboxBody } from './inbox-support.js';

const START = Date.UTC(2026, 4, 1, 10);
const runtime = useRuntime({ clock: frozenClock(START) });

const waitersOf = (rt: TestRuntime) => inboxSettings(rt.services).waiters;

/** Resolves once `n` requests wait on the runtime's inboxes. */
async function waiting(rt: TestRuntime, n: number): Promise<void> {
  await eventually(async () => (waitersOf(rt).size >= n ? true : undefined), 5_000);
}

describe('long-poll', () => {
  it('holds the answer until a code lands (one waiter, woken by the commit)', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    const started = performance.now();
    const held = api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=20`);
    await waiting(rt, 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(waitersOf(rt).size).toBe(1); // still held, by one waiter
    await deliverInbound(rt.services, inbound(inbox.address, 'Your code is 246810'));
    const answer = expectJson<InboxBody>(await held, 200);
    expect(answer).toMatchObject({ status: 'otp_received', otp_code: '246810', otp_count: 1 });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(waitersOf(rt).size).toBe(0);
  });

  it('is woken by a test-mode send, after the worker committed it', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'phone' });
    const held = api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=20`);
    await waiting(rt, 1);
    await send(rt.app, testKey, { identifier: inbox.address });
    await rt.worker.drain();
    const answer = expectJson<InboxBody>(await held, 200);
    expect(answer.status).toBe('otp_received');
    expect(answer.otp_code).toMatch(/^\d{6}$/);
  });

  it('answers at the end of the wait when no code came, and a message without a code does not end it', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    const started = performance.now();
    const held = api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=1`);
    await waiting(rt, 1);
    await deliverInbound(rt.services, inbound(inbox.address, 'No code in here.'));
    const answer = expectJson<InboxBody>(await held, 200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(answer).toMatchObject({ status: 'waiting', otp_code: null, otp_count: 0 });
    expect(answer.messages).toHaveLength(1);
  });

  it('after=<otp_count> answers at once for a code that landed between two calls', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    const before = await getInbox(rt.app, testKey, inbox.id);
    await deliverInbound(rt.services, inbound(inbox.address, 'code 135790'));
    const started = performance.now();
    const answer = await getInbox(rt.app, testKey, inbox.id, `?wait=30&after=${before.otp_count}`);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(answer).toMatchObject({ otp_code: '135790', otp_count: 1 });
    // With after= the count it has seen, the next wait holds until the next code.
    const held = api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=20&after=1`);
    await waiting(rt, 1);
    await deliverInbound(rt.services, inbound(inbox.address, 'code 975310'));
    expect(expectJson<InboxBody>(await held, 200)).toMatchObject({ otp_code: '975310', otp_count: 2 });
  });

  it('a closing inbox ends the wait', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    const held = api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=20`);
    await waiting(rt, 1);
    expectJson(await api(rt.app, testKey).post(`/v1/sandbox/inboxes/${inbox.id}/cancel`), 200);
    expect(expectJson<InboxBody>(await held, 200).status).toBe('canceled');
  });

  it('refuses a wait over 60 seconds', async () => {
    const rt = runtime();
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    expect((await api(rt.app, testKey).get(`/v1/sandbox/inboxes/${inbox.id}?wait=61`)).statusCode).toBe(400);
  });
});

describe('long-poll on a listening server', () => {
  async function listening(): Promise<{ rt: TestRuntime; port: number; key: string; inbox: InboxBody }> {
    const rt = await startRuntime({ clock: frozenClock(START) });
    await rt.app.listen({ port: 0, host: '127.0.0.1' });
    const { testKey } = await createIntegration(rt.app);
    const inbox = await createInbox(rt.app, testKey, { kind: 'email' });
    return { rt, port: (rt.app.server.address() as AddressInfo).port, key: testKey, inbox };
  }

  function get(port: number, key: string, path: string): { done: Promise<{ status: number; body: string }>; abort(): void } {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { 'x-api-key': key } });
    const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    req.end();
    return { done, abort: () => req.destroy() };
  }

  it('a client that disconnects releases its waiter', async () => {
    const { rt, port, key, inbox } = await listening();
    try {
      const call = get(port, key, `/v1/sandbox/inboxes/${inbox.id}?wait=30`);
      call.done.catch(() => {});
      await waiting(rt, 1);
      call.abort();
      await eventually(async () => (waitersOf(rt).size === 0 ? true : undefined), 5_000);
    } finally {
      await rt.dispose();
    }
  });

  it('graceful shutdown answers waiting requests at once', async () => {
    const { rt, port, key, inbox } = await listening();
    const call = get(port, key, `/v1/sandbox/inboxes/${inbox.id}?wait=30`);
    await waiting(rt, 1);
    const started = performance.now();
    const closing = rt.dispose();
    const answer = await call.done;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as InboxBody).status).toBe('waiting');
    await closing;
  });
});
