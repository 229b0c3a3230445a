import { afterEach, describe, expect, it } from 'vitest';
import { OtpgateClient } from './client.js';
import * as fx from './testing/fixtures.js';
import { startStub, type HttpStub, type StubReply } from './testing/http-stub.js';

/** waitForCode's loop against a stub that answers each long-poll from a script. */
let stub: HttpStub | null = null;
afterEach(async () => {
  await stub?.close();
  stub = null;
});

async function clientAnswering(script: (call: number, query: URLSearchParams) => StubReply): Promise<OtpgateClient> {
  let calls = 0;
  stub = await startStub((req) => script(++calls, new URL(req.url, 'http://x').searchParams));
  return new OtpgateClient({ apiKey: 'otpg_test_abc', baseUrl: stub.url });
}

const inbox = (over: Record<string, unknown>): StubReply => ({ status: 200, body: { ...fx.inbox, otp_count: 0, ...over } });

describe('sandbox.inboxes.waitForCode', () => {
  it('long-polls with after= until a code beyond it arrives, and answers the latest code and the count', async () => {
    const client = await clientAnswering((call) => (call < 3 ? inbox({}) : inbox({ status: 'otp_received', otp_code: '482913', otp_count: 1 })));
    const got = await client.sandbox.inboxes.waitForCode('inb_3', { timeoutMs: 30_000 });
    expect(got).toMatchObject({ ok: true, status: 200, data: { code: '482913', otp_count: 1, inbox: { id: 'inb_3', status: 'otp_received' } } });
    expect(stub!.requests).toHaveLength(3);
    for (const req of stub!.requests) {
      const q = new URL(req.url, 'http://x').searchParams;
      expect(req.url.startsWith('/v1/sandbox/inboxes/inb_3?')).toBe(true);
      expect(q.get('after')).toBe('0');
      expect(Number(q.get('wait'))).toBeGreaterThanOrEqual(29);
      expect(Number(q.get('wait'))).toBeLessThanOrEqual(30);
    }
  });

  it('counts a code that came before the call (after 0); with after = the count seen, waits for the next one', async () => {
    const first = await clientAnswering(() => inbox({ status: 'otp_received', otp_code: '111111', otp_count: 1 }));
    expect(await first.sandbox.inboxes.waitForCode('inb_3')).toMatchObject({ ok: true, data: { code: '111111', otp_count: 1 } });
    await stub!.close();

    const next = await clientAnswering((call, q) => {
      expect(q.get('after')).toBe('1');
      return call === 1 ? inbox({ status: 'otp_received', otp_code: '111111', otp_count: 1 }) : inbox({ status: 'otp_received', otp_code: '222222', otp_count: 2 });
    });
    expect(await next.sandbox.inboxes.waitForCode('inb_3', { after: 1 })).toMatchObject({ ok: true, data: { code: '222222', otp_count: 2 } });
    expect(stub!.requests).toHaveLength(2);
  });

  it('caps each long-poll at 60 s however long the whole wait is', async () => {
    const client = await clientAnswering(() => inbox({ status: 'otp_received', otp_code: '333333', otp_count: 1 }));
    await client.sandbox.inboxes.waitForCode('inb_3', { timeoutMs: 10 * 60_000 });
    expect(new URL(stub!.requests[0]!.url, 'http://x').searchParams.get('wait')).toBe('60');
  });

  it('resolves to invalid-state (status 0) when the inbox closes without a new code', async () => {
    const client = await clientAnswering(() => inbox({ status: 'expired' }));
    const got = await client.sandbox.inboxes.waitForCode('inb_3', { timeoutMs: 5_000 });
    expect(got).toMatchObject({ ok: false, status: 0, problem: { type: 'invalid-state', status: 409, inbox_status: 'expired' } });
  });

  it('resolves to request-timeout (status 0) when no code comes in time, polling gently in the last second', async () => {
    const client = await clientAnswering(() => inbox({}));
    const started = Date.now();
    const got = await client.sandbox.inboxes.waitForCode('inb_3', { timeoutMs: 700 });
    const took = Date.now() - started;
    expect(got).toMatchObject({ ok: false, status: 0, problem: { type: 'request-timeout', status: 408 } });
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(3_000);
    expect(stub!.requests.length).toBeGreaterThanOrEqual(2);
    expect(stub!.requests.length).toBeLessThanOrEqual(6); // about every 250 ms, not a busy loop
  });

  it("passes the server's problem through (unknown inbox, live key)", async () => {
    const client = await clientAnswering(() => ({ status: 404, body: { type: 'not-found', title: 'Not found', status: 404, detail: 'No inbox has this id.' } }));
    expect(await client.sandbox.inboxes.waitForCode('inb_nope')).toMatchObject({ ok: false, status: 404, problem: { type: 'not-found' } });
  });

  it('stops when the signal aborts', async () => {
    const client = await clientAnswering(() => ({ status: 200, hang: true }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const got = await client.sandbox.inboxes.waitForCode('inb_3', { timeoutMs: 30_000, signal: controller.signal });
    expect(got).toMatchObject({ ok: false, status: 0, problem: { type: 'unavailable' } });
  });
});
