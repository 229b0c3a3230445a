/**
 * Long-poll waiters of this process (`GET /v1/sandbox/inboxes/{id}?wait=`), keyed by inbox id. A
 * waiter costs a timer and a map entry, never a query while it waits: it is woken by the commit that
 * stored a new code (or closed the inbox), told here directly or, from another process, through the
 * notifier's `inbox` topic (Redis pub/sub when configured). A disconnected client's waiter is
 * released (`signal`), and `closeAll` ends every wait at shutdown.
 */
export type WaitEnd = 'woken' | 'timeout' | 'aborted' | 'closing';

interface Waiter {
  finish(end: WaitEnd): void;
}

export class InboxWaiters {
  private readonly byInbox = new Map<string, Set<Waiter>>();
  private closing = false;

  /** Waiters currently registered (metrics, tests). */
  get size(): number {
    let n = 0;
    for (const set of this.byInbox.values()) n += set.size;
    return n;
  }

  /**
   * Registers a waiter now and returns its promise: register before reading the state you wait on
   * past, so a wake between the read and the wait is not lost.
   */
  wait(inboxId: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitEnd> {
    if (this.closing) return Promise.resolve('closing');
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise<WaitEnd>((resolve) => {
      let set = this.byInbox.get(inboxId);
      if (!set) this.byInbox.set(inboxId, (set = new Set()));
      const onAbort = (): void => waiter.finish('aborted');
      const timer = setTimeout(() => waiter.finish('timeout'), Math.max(0, timeoutMs));
      const waiter: Waiter = {
        finish: (end) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const current = this.byInbox.get(inboxId);
          if (current?.delete(waiter) && current.size === 0) this.byInbox.delete(inboxId);
          resolve(end);
        },
      };
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes this process's waiters of one inbox (a commit changed it). */
  wake(inboxId: string): void {
    const set = this.byInbox.get(inboxId);
    if (!set) return;
    for (const waiter of [...set]) waiter.finish('woken');
  }

  /** Ends every wait (graceful shutdown) and refuses new ones. */
  closeAll(): void {
    this.closing = true;
    for (const set of [...this.byInbox.values()]) for (const waiter of [...set]) waiter.finish('closing');
  }
}
