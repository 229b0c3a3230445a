import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, cryptoRandom, systemClock } from '../domain/clock.js';
import { claimDue, enqueue, type OutboxRow } from '../store/outbox-repo.js';
import { migrateToLatest, openStore, type Store } from '../store/database.js';
import { OutboxWorker, type JobOutcome } from './outbox-worker.js';

const logger = pino({ level: 'silent' });
let store: Store;
let clock: ManualClock;

beforeEach(async () => {
  store = openStore('sqlite::memory:');
  await migrateToLatest(store.db);
  clock = new ManualClock(Date.UTC(2026, 0, 1));
});
afterEach(async () => store.close());

async function put(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await enqueue(store.db, { id: `obx_${i}`, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now() });
  }
}

function worker(handle: (row: OutboxRow) => Promise<JobOutcome>, onDead?: (row: OutboxRow) => Promise<void>): OutboxWorker {
  return new OutboxWorker({ db: store.db, postgres: false, clock, random: cryptoRandom, logger, handlers: { test: handle }, onDead: onDead && ((_trx, row) => onDead(row)), leaseMs: 10_000 });
}

const status = async (id: string) => store.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('OutboxWorker', () => {
  it('hands each message to exactly one of two workers draining together', async () => {
    await put(60);
    const seen: string[] = [];
    const handle = async (row: OutboxRow): Promise<JobOutcome> => {
      seen.push(row.id);
      return { done: true };
    };
    await Promise.all([worker(handle).drain(), worker(handle).drain()]);
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    expect((await status('obx_7')).status).toBe('done');
  });

  it('takes over a crashed worker’s claim once its lease lapses, not before', async () => {
    await put(1);
    const claimed = await claimDue(store.db, 'wrk_dead', clock.now(), 10_000, 10, false); // claimed, then the process died
    expect(claimed).toHaveLength(1);
    let runs = 0;
    const survivor = worker(async () => {
      runs++;
      return { done: true };
    });
    expect(await survivor.drain()).toBe(0);
    clock.advance(10_001);
    expect(await survivor.drain()).toBe(1);
    expect(runs).toBe(1);
    expect((await status('obx_0')).status).toBe('done');
  });

  it('retries a retryable failure later and buries a permanent one', async () => {
    await put(2);
    const dead: string[] = [];
    let calls = 0;
    const w = worker(
      async (row) => {
        calls++;
        return row.id === 'obx_0' ? { done: false, retryable: true, error: 'provider down' } : { done: false, retryable: false, error: 'bad number' };
      },
      async (row) => {
        dead.push(row.id);
      },
    );
    await w.drain();
    expect(calls).toBe(2);
    expect(dead).toEqual(['obx_1']);
    const retrying = await status('obx_0');
    expect(retrying.status).toBe('pending');
    expect(retrying.available_at).toBeGreaterThan(clock.now());
    expect(await w.drain()).toBe(0); // not due yet
    clock.advance(60_000);
    expect(await w.drain()).toBe(1);
    expect((await status('obx_1')).status).toBe('dead');
  });

  it('gives up a message after its retries run out', async () => {
    await put(1);
    const dead: string[] = [];
    const w = worker(async () => ({ done: false, retryable: true, error: 'still down' }), async (row) => void dead.push(row.id));
    for (let i = 0; i < 10 && dead.length === 0; i++) {
      await w.drain();
      clock.advance(3_600_000);
    }
    expect(dead).toEqual(['obx_0']);
    expect((await status('obx_0')).attempts).toBe(6);
  });

  it('keeps a message whose handler threw, for a retry', async () => {
    await put(1);
    const w = worker(async () => {
      throw new Error('boom');
    });
    await w.drain();
    const row = await status('obx_0');
    expect(row.status).toBe('pending');
    expect(row.last_error).toBe('boom');
  });

  it('commits the writes a handler asks for with the batch, and isolates one that fails', async () => {
    await put(3);
    const w = worker(async (row) => ({
      done: true,
      persist: async (trx) => {
        if (row.id === 'obx_1') throw new Error('constraint violated');
        await trx.updateTable('outbox').set({ payload_json: `persisted ${row.id}` }).where('id', '=', row.id).execute();
      },
    }));
    expect(await w.drain()).toBe(3);
    expect((await status('obx_0')).payload_json).toBe('persisted obx_0');
    expect((await status('obx_0')).status).toBe('done');
    expect((await status('obx_2')).status).toBe('done');
    const bad = await status('obx_1');
    expect(bad.status).toBe('pending');
    expect(bad.last_error).toContain('constraint violated');
  });

  it('renews the lease of a batch still in hand, so a slow send is not taken over', async () => {
    await enqueue(store.db, { id: 'obx_slow', kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: Date.now() });
    let runs = 0;
    const options = { db: store.db, postgres: false, clock: systemClock, random: cryptoRandom, logger, leaseMs: 300 };
    const slowSend = async (): Promise<JobOutcome> => {
      runs++;
      await new Promise((r) => setTimeout(r, 900));
      return { done: true };
    };
    const slow = new OutboxWorker({ ...options, handlers: { test: slowSend } });
    const other = new OutboxWorker({ ...options, handlers: { test: async (): Promise<JobOutcome> => (runs++, { done: true }) } });
    const first = slow.drain();
    await new Promise((r) => setTimeout(r, 600)); // twice the lease: without renewal it would have lapsed
    expect(await other.drain()).toBe(0);
    await first;
    expect(runs).toBe(1);
    expect((await status('obx_slow')).status).toBe('done');
  });

  describe('handover in memory', () => {
    const ok = async (): Promise<JobOutcome> => ({ done: true });
    const handOver = async (w: OutboxWorker, id: string): Promise<OutboxRow> => {
      const row = await enqueue(store.db, { id, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now(), claim: w.claimForHandoff() });
      w.handoff(row);
      return row;
    };

    it('is claimed at enqueue for a running worker only, and delivered by it while no other worker can claim it', async () => {
      const idle = worker(ok);
      expect(idle.claimForHandoff()).toBeNull(); // not running: enqueue unclaimed, for any worker
      const seen: string[] = [];
      const w = worker(async (row) => (seen.push(row.id), { done: true }));
      w.start();
      try {
        const row = await handOver(w, 'obx_handed');
        expect(row).toMatchObject({ locked_by: w.id, attempts: 1, status: 'pending' });
        expect(await claimDue(store.db, 'wrk_other', clock.now(), 10_000, 10, false)).toEqual([]); // held by the claim
        const deadline = Date.now() + 3000;
        while ((await status('obx_handed')).status !== 'done' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect((await status('obx_handed')).status).toBe('done');
        expect(seen).toEqual(['obx_handed']);
      } finally {
        await w.stop();
      }
    });

    it('loses nothing when the process dies before delivering it: the claim lapses and another worker delivers it', async () => {
      const doomed = worker(ok);
      doomed.start();
      const claim = doomed.claimForHandoff();
      await doomed.stop();
      // Enqueued with the claim, then the process died before the handover.
      await enqueue(store.db, { id: 'obx_orphan', kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now(), claim });
      const survivor = worker(ok);
      expect(await survivor.drain()).toBe(0);
      clock.advance(10_001);
      expect(await survivor.drain()).toBe(1);
      expect((await status('obx_orphan')).status).toBe('done');
    });

    it('stop() hands back what it was given but had not delivered', async () => {
      const w = worker(ok);
      w.start();
      const row = await enqueue(store.db, { id: 'obx_left', kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now(), claim: w.claimForHandoff() });
      await w.stop();
      w.handoff(row); // too late: not taken
      expect((await status('obx_left')).locked_by).toBeNull();
      expect(await worker(ok).drain()).toBe(1); // another worker takes it at once
    });

    it('still claims due messages from the store while handovers keep coming (at least every pollMs)', async () => {
      const seen: string[] = [];
      // 20 batches of 20 ms, 4 at a time: the handovers keep the worker busy for 100 ms, five poll intervals.
      const slow = async (row: OutboxRow): Promise<JobOutcome> => {
        seen.push(row.id);
        await new Promise((r) => setTimeout(r, 20));
        return { done: true };
      };
      const w = new OutboxWorker({ db: store.db, postgres: false, clock, random: cryptoRandom, logger, handlers: { test: slow }, leaseMs: 10_000, batch: 2, pollMs: 20 });
      w.start();
      try {
        const rows: OutboxRow[] = [];
        for (let i = 0; i < 40; i++) {
          rows.push(await enqueue(store.db, { id: `obx_h${String(i).padStart(2, '0')}`, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now(), claim: w.claimForHandoff() }));
        }
        // Messages nobody hands over, due a second from now.
        for (let i = 0; i < 3; i++) await enqueue(store.db, { id: `obx_${i}`, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now() + 1000 });
        for (const row of rows) w.handoff(row); // a full queue: every tick could be served from it
        clock.advance(1000); // now both are waiting when the first tick runs
        const deadline = Date.now() + 5000;
        while (seen.length < 43 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect(new Set(seen).size).toBe(43);
        const firstStored = Math.min(...['obx_0', 'obx_1', 'obx_2'].map((id) => seen.indexOf(id)));
        expect(firstStored).toBeGreaterThanOrEqual(0);
        expect(firstStored).toBeLessThan(seen.indexOf('obx_h39')); // not starved until the handovers ran out
      } finally {
        await w.stop();
      }
    });

    it('never delivers a handed-over message twice when it waits in memory longer than the lease', async () => {
      // A slow provider and a queue of handovers: each waits well past its 600 ms claim. The running
      // worker's heartbeat keeps renewing every claim in hand, and the store's due claims (every
      // eighth tick) skip what is already in hand.
      const seen: string[] = [];
      const slow = async (row: OutboxRow): Promise<JobOutcome> => {
        seen.push(row.id);
        await new Promise((r) => setTimeout(r, 100));
        return { done: true };
      };
      const w = new OutboxWorker({ db: store.db, postgres: false, clock: systemClock, random: cryptoRandom, logger, handlers: { test: slow }, leaseMs: 600, batch: 1, concurrency: 1 });
      w.start();
      try {
        const rows: OutboxRow[] = [];
        for (let i = 0; i < 16; i++) {
          rows.push(await enqueue(store.db, { id: `obx_q${String(i).padStart(2, '0')}`, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: Date.now(), claim: w.claimForHandoff() }));
        }
        for (const row of rows) w.handoff(row);
        const deadline = Date.now() + 6000;
        while ((await store.db.selectFrom('outbox').select('id').where('status', '=', 'done').execute()).length < 16 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 300)); // a duplicate claimed late would show by now
        expect(seen).toHaveLength(16);
        expect(new Set(seen).size).toBe(16);
      } finally {
        await w.stop();
      }
    });

    it('survives a store that cannot record a batch: no crash, and the messages are delivered again once it is back', async () => {
      let down = false;
      // The store as the worker sees it: transactions fail while `down` (Postgres cut off).
      const flaky = new Proxy(store.db, {
        get(target, property, receiver) {
          if (property === 'transaction' && down) return () => ({ execute: () => Promise.reject(new Error('write ECONNRESET')) });
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const seen: string[] = [];
      const w = new OutboxWorker({ db: flaky, postgres: false, clock: systemClock, random: cryptoRandom, logger, handlers: { test: async (row) => (seen.push(row.id), { done: true }) }, leaseMs: 600 });
      w.start();
      try {
        const row = await enqueue(store.db, { id: 'obx_cut', kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: Date.now(), claim: w.claimForHandoff() });
        down = true;
        w.handoff(row);
        const deadline = Date.now() + 5000;
        while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await new Promise((r) => setTimeout(r, 50)); // the failed recording settles (an unhandled rejection would fail the run)
        expect((await status('obx_cut')).status).toBe('pending');
        down = false;
        // Its claim is no longer renewed: it lapses and the same worker claims and delivers it again.
        while ((await status('obx_cut')).status !== 'done' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect((await status('obx_cut')).status).toBe('done');
        expect(seen).toEqual(['obx_cut', 'obx_cut']);
      } finally {
        down = false;
        await w.stop();
      }
    });

    it('keeps several batches in flight: one slow message does not hold up the others', async () => {
      const done: string[] = [];
      let release: () => void = () => {};
      const blocked = new Promise<void>((r) => (release = r));
      const handler = async (row: OutboxRow): Promise<JobOutcome> => {
        if (row.id === 'obx_slow') await blocked;
        done.push(row.id);
        return { done: true };
      };
      const w = new OutboxWorker({ db: store.db, postgres: false, clock, random: cryptoRandom, logger, handlers: { test: handler }, leaseMs: 10_000, batch: 1, concurrency: 4 });
      w.start();
      try {
        const hand = async (id: string) => w.handoff(await enqueue(store.db, { id, kind: 'test', integration_id: 'int_x', mode: 'test', payload_json: '{}', now: clock.now(), claim: w.claimForHandoff() }));
        await hand('obx_slow');
        for (let i = 0; i < 3; i++) await hand(`obx_f${i}`);
        const deadline = Date.now() + 3000;
        while (done.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect(done.sort()).toEqual(['obx_f0', 'obx_f1', 'obx_f2']); // delivered while the slow one is still out
        release();
        while (done.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect(done).toContain('obx_slow');
      } finally {
        release();
        await w.stop();
      }
    });
  });
});
