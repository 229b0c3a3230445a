import { toIso, type Clock } from '../domain/clock.js';
import { fail, ok, validationProblem, type Result } from '../domain/errors.js';
import { billingCurrency } from '../billing/currency.js';
import { formatMoney, parseMoney, unitsOf, unitsParam } from '../billing/money.js';
import { ANY_COUNTRY, PRICED_CHANNELS, SEND_CHANNELS, type PricedChannel } from '../billing/pricing.js';
import { listPrices, replacePrices } from '../store/billing-repo.js';
import type { Db, PricesTable } from '../store/tables.js';

/** The price catalog as the API shows it (`GET /v1/pricing`, `GET|PUT /admin/v1/pricing`). */

export interface PriceView {
  channel: PricedChannel;
  country: string;
  price: string;
  currency: string;
  /** `send` (a delivery channel) or `inbox_rental` (inbox_phone, inbox_email). */
  product: 'send' | 'inbox_rental';
  updated_at: string;
}

function present(row: PricesTable): PriceView {
  const channel = row.channel as PricedChannel;
  return {
    channel,
    country: row.country,
    price: formatMoney(unitsOf(row.price)),
    currency: billingCurrency(),
    product: (SEND_CHANNELS as readonly string[]).includes(channel) ? 'send' : 'inbox_rental',
    updated_at: toIso(row.updated_at),
  };
}

export async function getPricing(db: Db): Promise<{ data: PriceView[] }> {
  return { data: (await listPrices(db)).map(present) };
}

export interface PriceInput {
  channel: PricedChannel;
  country: string;
  price: string;
}

/** At most this many rows in a catalog (five channels × every country, with room). */
export const MAX_PRICE_ROWS = 2_000;

/**
 * Replaces the whole catalog. Every priced channel needs its `*` row (so every send and rental has
 * a price); a channel and country appear once; prices are decimal strings, 0 allowed (free).
 */
export async function putPricing(deps: { db: Db; clock: Clock }, rows: PriceInput[]): Promise<Result<{ data: PriceView[] }>> {
  const errors: Record<string, string[]> = {};
  const seen = new Set<string>();
  const now = deps.clock.now();
  const stored: PricesTable[] = [];
  rows.forEach((row, i) => {
    const price = parseMoney(row.price, { allowZero: true });
    if (!price.ok) errors[`prices/${i}/price`] = [price.error];
    const key = `${row.channel}\u0000${row.country}`;
    if (seen.has(key)) errors[`prices/${i}`] = ['duplicate'];
    seen.add(key);
    if (price.ok) stored.push({ channel: row.channel, country: row.country, price: unitsParam(price.units), updated_at: now });
  });
  const missing = PRICED_CHANNELS.filter((channel) => !seen.has(`${channel}\u0000${ANY_COUNTRY}`));
  if (missing.length > 0) errors.prices = missing.map((channel) => `missing_default:${channel}`);
  if (Object.keys(errors).length > 0) return fail(validationProblem('The catalog is not valid: every channel needs a "*" row, each channel and country once, prices with at most four decimals.', errors));
  await deps.db.transaction().execute((trx) => replacePrices(trx, stored));
  return ok(await getPricing(deps.db));
}
