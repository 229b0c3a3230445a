import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { getBalance, listTransactions } from '../../../services/balance.js';
import type { ServiceDeps } from '../../../services/context.js';
import { getPricing } from '../../../services/pricing-catalog.js';
import { tenantOf } from '../../plugins/auth.js';
import { sendResult } from '../../problem-reply.js';
import { ListQuery, NullableString, StringEnum, errorResponses } from '../../schemas.js';

const tags = ['billing'];
const closed = { additionalProperties: false } as const;
const Money = (description: string) => Type.String({ description: `${description}: a decimal string with four places ("0.0500").` });

export const PriceSchema = Type.Object({
  channel: StringEnum(['whatsapp', 'sms', 'email', 'inbox_phone', 'inbox_email'] as const, { description: 'A send channel, or an inbox rental (inbox_phone, inbox_email).' }),
  country: Type.String({ description: 'ISO 3166 alpha-2, or * for the default row of the channel.' }),
  price: Money('The price of one send or rental'),
  currency: Type.String({ description: 'ISO 4217 (OTPGATE_BILLING_CURRENCY).' }),
  product: StringEnum(['send', 'inbox_rental'] as const),
  updated_at: Type.String(),
});
export const PricingSchema = Type.Object({ data: Type.Array(PriceSchema) });

export const BalanceSchema = Type.Object({
  balance: Money('The prepaid balance of the integration (shared by its test and live keys)'),
  currency: Type.String(),
  billing_enabled: Type.Boolean({ description: "The policy's billing.enabled: live sends are charged." }),
  low_balance_threshold: Type.String({ description: 'Under this, a debit records balance.low (once per crossing).' }),
});

export const LedgerEntrySchema = Type.Object({
  id: Type.String({ description: 'txn_…' }),
  type: StringEnum(['topup', 'debit', 'refund'] as const),
  amount: Money('Signed: a debit is negative'),
  balance_after: Money('The balance after this entry'),
  currency: Type.String(),
  reference: NullableString({ description: 'What it is for: a verification id (ver_…), an inbox id (inb_…), or the top-up reference.' }),
  description: NullableString(),
  mode: NullableString({ description: 'The mode of the key that caused it; null for a top-up.' }),
  created_at: Type.String(),
});

/** `/v1/pricing`, `/v1/balance`, `/v1/balance/transactions` (API.md "Balance and pricing"). */
export const billingRoutes = (deps: ServiceDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/v1/pricing',
    { schema: { tags, summary: 'The price catalog: per channel and country (* is the default row)', response: { 200: PricingSchema, ...errorResponses(401) } } },
    async () => getPricing(deps.store.db),
  );

  app.get(
    '/v1/balance',
    { schema: { tags, summary: "The integration's prepaid balance", response: { 200: BalanceSchema, ...errorResponses(401) } } },
    async (request) => getBalance(deps.store.db, tenantOf(request)),
  );

  app.get(
    '/v1/balance/transactions',
    {
      schema: {
        tags,
        summary: 'Ledger entries (topup | debit | refund), newest first',
        querystring: Type.Object(ListQuery, closed),
        response: { 200: Type.Object({ data: Type.Array(LedgerEntrySchema), next_cursor: NullableString() }), ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { limit, cursor } = request.query;
      return sendResult(reply, await listTransactions(deps.store.db, tenantOf(request), { limit: limit ?? 20, cursor }));
    },
  );
};
