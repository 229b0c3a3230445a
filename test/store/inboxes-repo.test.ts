/** The inbox repositories on every dialect: one open inbox per address, conditional transitions, deduplicated messages, the pool's atomic rental. */
import { expect, it } from 'vitest';
import {
  findOpenInbox,
  insertInbox,
  insertInboxMessage,
  lapsedInboxes,
  listInboxMessages,
  recordInboxCode,
  transitionInbox,
  type InboxRow,
} from '../../src/store/inboxes-repo.js';
import { deleteFreePoolNumber, insertPoolNumber, releasePoolNumber, rentPoolNumber } from '../../src/store/pool-numbers-repo.js';
import { eachDialect, storeDialects, useMigratedStore } from '../helpers/stores.js';

const dialects = storeDialects('inboxes');

let n = 0;
function inbox(over: Partial<InboxRow> = {}): InboxRow {
  const id = `inb_repo${++n}`;
  const address = `inbox-${n}@sandbox.otpgate.test`;
  return {
    id, integration_id: 'int_a', mode: 'test', kind: 'email', address, open_address: address, source: 'generated', country: null, regex: null,
    status: 'waiting', expires_at: 10_000, otp_count: 0, last_code: null, pool_number: null, created_at: 1, updated_at: 1, ...over,
  };
}

eachDialect(dialects)('inbox repositories on $name', (dialect) => {
  const store = useMigratedStore(dialect);
  const postgres = dialect.name === 'postgres';

  it('one open inbox per address; a closed one frees it', async () => {
    const { db } = store();
    const first = inbox();
    expect(await insertInbox(db, first)).toBe(true);
    expect(await insertInbox(db, inbox({ address: first.address, open_address: first.address }))).toBe(false);
    expect((await findOpenInbox(db, first.address))?.id).toBe(first.id);
    // A transition from a state nobody holds any more changes nothing.
    expect(await transitionInbox(db, first.id, { status: 'otp_received', expires_at: first.expires_at }, { status: 'finished', expires_at: first.expires_at, open: false }, 2)).toBeUndefined();
    const closed = await transitionInbox(db, first.id, first, { status: 'finished', expires_at: first.expires_at, open: false }, 2);
    expect(closed).toMatchObject({ status: 'finished', open_address: null, updated_at: 2 });
    expect(await findOpenInbox(db, first.address)).toBeUndefined();
    expect(await insertInbox(db, inbox({ address: first.address, open_address: first.address }))).toBe(true);
  });

  it('counts codes only in an open inbox within its window, and stores a source once', async () => {
    const { db } = store();
    const row = inbox();
    await insertInbox(db, row);
    const message = { id: `msg_${row.id}`, inbox_id: row.id, seq: 0, channel: 'email', from_address: 'a@b.c', subject: null, text: 'code 123456', code: '123456', source_id: 'src-1', received_at: 5 };
    expect(await insertInboxMessage(db, message)).toBe(true);
    expect(await insertInboxMessage(db, { ...message, id: `msg_${row.id}b` })).toBe(false);
    expect(await recordInboxCode(db, row.id, '123456', 5)).toMatchObject({ status: 'otp_received', otp_count: 1, last_code: '123456' });
    expect(await recordInboxCode(db, row.id, '654321', row.expires_at)).toBeUndefined(); // the window has ended
    expect((await listInboxMessages(db, row.id, 10)).map((m) => m.code)).toEqual(['123456']);
  });

  it('finds lapsed open inboxes only', async () => {
    const { db } = store();
    const lapsed = inbox({ expires_at: 50 });
    const later = inbox({ expires_at: 500 });
    const closedLapsed = inbox({ expires_at: 50, status: 'finished', open_address: null });
    for (const r of [lapsed, later, closedLapsed]) await insertInbox(db, r);
    const ids = await db.transaction().execute(async (trx) => (await lapsedInboxes(trx, 100, 100, postgres)).map((r) => r.id));
    expect(ids).toContain(lapsed.id);
    expect(ids).not.toContain(later.id);
    expect(ids).not.toContain(closedLapsed.id);
  });

  it('rents pool numbers atomically: concurrent rentals never share one', async () => {
    const { db } = store();
    const numbers = ['+5511987659001', '+5511987659002', '+5511987659003'];
    for (const number of numbers) await insertPoolNumber(db, { number, label: null, country: 'BR', rented_by: null, created_at: 1, updated_at: 1 });
    const rented = await Promise.all(
      Array.from({ length: 6 }, (_, i) => db.transaction().execute((trx) => rentPoolNumber(trx, `inb_pool${i}`, 'BR', 2, postgres))),
    );
    const got = rented.filter((r): r is string => r !== null);
    expect(got.sort()).toEqual(numbers);
    expect(await rentPoolNumber(db, 'inb_poolX', 'US', 2, postgres)).toBeNull();
    // A rented number is not removed; released, it is.
    const holder = `inb_pool${rented.indexOf(numbers[0] as string)}`;
    expect(await deleteFreePoolNumber(db, numbers[0] as string)).toBe(false);
    await releasePoolNumber(db, numbers[0] as string, 'inb_someoneElse', 3); // not the holder: no effect
    expect(await deleteFreePoolNumber(db, numbers[0] as string)).toBe(false);
    await releasePoolNumber(db, numbers[0] as string, holder, 3);
    expect(await deleteFreePoolNumber(db, numbers[0] as string)).toBe(true);
  });
});
