import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { PRICED_CHANNELS } from '../../../billing/pricing.js';
import { topUp, type TopUpDeps } from '../../../services/balance.js';
import { MAX_PRICE_ROWS, getPricing, putPricing } from '../../../services/pricing-catalog.js';
import { sendProblem } from '../../problem-reply.js';
import { StringEnum, errorResponses } from '../../schemas.js';
import { LedgerEntrySchema, PricingSchema } from '../v1/billing.js';

const tags = ['operator'];
const closed = { additionalProperties: false } as const;
const IdParams = Type.Object({ id: Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' }) }, closed);
const MoneyInput = (description: string) => Type.String({ minLength: 1, maxLength: 32, description: `${description}: a decimal string, at most four decimals ("10", "0.0500").` });

const TopUpBody = Type.Object(
  {
    amount: MoneyInput('What to add, more than 0 and at most 1,000,000,000'),
    reference: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Your reference (an invoice, a payment id): the same reference again answers with the first top-up (200); another amount → 409.' })),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  closed,
);
const TopUpSchema = Type.Object({ ...LedgerEntrySchema.properties, integration_id: Type.String() });

const PriceRow = Type.Object(
  {
    channel: StringEnum(PRICED_CHANNELS),
    country: Type.String({ pattern: '^(?:[A-Z]{2}|\\*)$', description: 'ISO 3166 alpha-2, or * (every channel needs its * row).' }),
    price: MoneyInput('The price, 0 for free'),
  },
  closed,
);

/** Top-ups and the price catalog, for the operator (API.md "Operator API"; docs/billing.md). */
export const adminBillingRoutes = (deps: TopUpDeps): FastifyPluginAsyncTypebox => async (app) => {
  app.post(
    '/admin/v1/integrations/:id/topups',
    {
      schema: {
        tags,
        summary: "Add to an integration's prepaid balance (idempotent on reference and on Idempotency-Key)",
        params: IdParams,
        body: TopUpBody,
        response: { 200: TopUpSchema, 201: TopUpSchema, ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const result = await topUp(deps, request.params.id, request.body, request.idempotency);
      if (!result.ok) return sendProblem(reply, result.problem);
      return reply.code(result.value.replayed ? 200 : 201).send({ ...result.value.entry, integration_id: request.params.id });
    },
  );

  app.get(
    '/admin/v1/pricing',
    { schema: { tags, summary: 'The price catalog', response: { 200: PricingSchema, ...errorResponses(401) } } },
    async () => getPricing(deps.db),
  );

  app.put(
    '/admin/v1/pricing',
    {
      schema: {
        tags,
        summary: 'Replace the whole price catalog (every channel needs its * row)',
        body: Type.Object({ prices: Type.Array(PriceRow, { minItems: 1, maxItems: MAX_PRICE_ROWS }) }, closed),
        response: { 200: PricingSchema, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const result = await putPricing(deps, request.body.prices);
      return result.ok ? reply.send(result.value) : sendProblem(reply, result.problem);
    },
  );
};
