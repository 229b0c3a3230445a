import { pricesFor } from '../store/billing-repo.js';
import type { QueryRunner } from '../store/prepared.js';
import { unitsOf } from './money.js';

/**
 * The price catalog: one price per product channel and country, `*` the default of a channel.
 * Send channels are the delivery channels; inbox rentals are priced as `inbox_phone` / `inbox_email`.
 */
export const SEND_CHANNELS = ['whatsapp', 'sms', 'email'] as const;
export const RENTAL_CHANNELS = ['inbox_phone', 'inbox_email'] as const;
export const PRICED_CHANNELS = [...SEND_CHANNELS, ...RENTAL_CHANNELS] as const;
export type PricedChannel = (typeof PRICED_CHANNELS)[number];

/** The default row of a channel. */
export const ANY_COUNTRY = '*';

/**
 * The price of one row set (a channel's rows for a country and `*`): the country's own row when
 * there is one, else the default; null when the catalog has neither (the operator removed it).
 */
export function pickPrice(rows: ReadonlyArray<{ country: string; price: number }>, country: string | null): bigint | null {
  const own = country === null ? undefined : rows.find((r) => r.country === country);
  const chosen = own ?? rows.find((r) => r.country === ANY_COUNTRY);
  return chosen ? unitsOf(chosen.price) : null;
}

/** The price in units of `channel` for `country` (null: no country, the default row), or null when none is set. */
export async function priceOf(db: QueryRunner, channel: PricedChannel, country: string | null): Promise<bigint | null> {
  return pickPrice(await pricesFor(db, channel, country ?? ANY_COUNTRY), country);
}
