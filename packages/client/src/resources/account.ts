import type { Result } from '../problem.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { Balance, LedgerEntry, ListParams, Page, Policy, Pricing } from '../types.js';

/** `/v1/policy`: the integration's effective policy. */
export class PolicyResource {
  constructor(private readonly transport: Transport) {}

  /**
   * The effective policy (`GET /v1/policy`): which actions need OTP, limits, channels, tokens.
   * @default the client's `timeoutMs`
   * @example
   * const policy = await client.policy.get();
   * if (policy.ok && policy.data.require_otp_for.redemption) console.warn('redemption is gated');
   */
  get(options: RequestOptions = {}): Promise<Result<Policy>> {
    return this.transport.request('GET', '/v1/policy', options);
  }
}

/** `/v1/pricing`: the price of a send (or an inbox rental) per channel and country. */
export class PricingResource {
  constructor(private readonly transport: Transport) {}

  /**
   * The price list (`GET /v1/pricing`); `country: "*"` is the default row.
   * @default the client's `timeoutMs`
   * @example
   * const prices = await client.pricing.get();
   */
  get(options: RequestOptions = {}): Promise<Result<Pricing>> {
    return this.transport.request('GET', '/v1/pricing', options);
  }
}

/** `/v1/balance`: the prepaid balance and its ledger. */
export class BalanceResource {
  constructor(private readonly transport: Transport) {}

  /**
   * The balance (`GET /v1/balance` → `{balance: "12.3400", currency}`).
   * @default the client's `timeoutMs`
   * @example
   * const b = await client.balance.get();
   */
  get(options: RequestOptions = {}): Promise<Result<Balance>> {
    return this.transport.request('GET', '/v1/balance', options);
  }

  /**
   * Ledger entries (`topup` | `debit` | `refund`), newest first (`GET /v1/balance/transactions`).
   * @default limit 20, first page
   * @example
   * const page = await client.balance.transactions({ limit: 100 });
   * const next = page.ok && page.data.next_cursor ? await client.balance.transactions({ cursor: page.data.next_cursor }) : null;
   */
  transactions(params: ListParams = {}, options: RequestOptions = {}): Promise<Result<Page<LedgerEntry>>> {
    return this.transport.request('GET', '/v1/balance/transactions', { ...options, query: { limit: params.limit, cursor: params.cursor } });
  }
}
