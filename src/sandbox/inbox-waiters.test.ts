import { describe, expect, it } from 'vitest';
import { InboxWaiters } from './inbox-waiters.js';

describe('InboxWaiters', () => {
  it('wakes the waiters of one inbox only, and forgets them', async () => {
    const waiters = new InboxWaiters();
    const a = waiters.wait('inb_a', 5_000);
    const a2 = waiters.wait('inb_a', 5_000);
    const b = waiters.wait('inb_b', 30);
    expect(waiters.size).toBe(3);
    waiters.wake('inb_a');
    expect(await a).toBe('woken');
    expect(await a2).toBe('woken');
    expect(await b).toBe('timeout');
    expect(waiters.size).toBe(0);
  });

  it('releases a waiter whose client went away', async () => {
    const waiters = new InboxWaiters();
    const abort = new AbortController();
    const pending = waiters.wait('inb_a', 5_000, abort.signal);
    abort.abort();
    expect(await pending).toBe('aborted');
    expect(waiters.size).toBe(0);
  });

  it('closeAll ends every wait at once and refuses new ones', async () => {
    const waiters = new InboxWaiters();
    const pending = [waiters.wait('inb_a', 60_000), waiters.wait('inb_b', 60_000)];
    waiters.closeAll();
    expect(await Promise.all(pending)).toEqual(['closing', 'closing']);
    expect(await waiters.wait('inb_c', 60_000)).toBe('closing');
  });
});
