import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Clock } from '../../../domain/clock.js';
import { getStats } from '../../../services/stats.js';
import type { Db } from '../../../store/tables.js';
import { sendResult } from '../../problem-reply.js';
import { NullableString, StringEnum, errorResponses } from '../../schemas.js';

const closed = { additionalProperties: false } as const;
const Counts = {
  sends: Type.Integer({ description: 'Verifications started in the window.' }),
  deliveries: Type.Integer({ description: 'Of those, delivered (a provider receipt said so; every sandbox capture).' }),
  approvals: Type.Integer({ description: 'Of those, approved.' }),
  conversion_rate: Type.Number({ description: 'approvals ÷ sends, four decimals (0 without sends).' }),
};
const StatsSchema = Type.Object({
  from: Type.String(),
  to: Type.String(),
  data: Type.Array(Type.Object({ integration_id: Type.String(), mode: StringEnum(['test', 'live'] as const), channel: Type.String({ description: 'The first channel of the send.' }), country: NullableString(), ...Counts })),
  totals: Type.Object(Counts),
});

/** `GET /admin/v1/stats`: sends, deliveries, approvals and conversion per integration, mode, channel and country. */
export const adminStatsRoutes = (deps: { db: Db; clock: Clock }): FastifyPluginAsyncTypebox => async (app) => {
  app.get(
    '/admin/v1/stats',
    {
      schema: {
        tags: ['operator'],
        summary: 'Sends, deliveries, approvals and conversion rate per integration, mode, channel and country over a window',
        querystring: Type.Object(
          {
            from: Type.Optional(Type.String({ maxLength: 40, description: 'RFC 3339, inclusive (default: 7 days before to).' })),
            to: Type.Optional(Type.String({ maxLength: 40, description: 'RFC 3339, exclusive (default: now). At most 366 days after from.' })),
            integration_id: Type.Optional(Type.String({ pattern: '^int_[0-9A-Za-z]{1,64}$' })),
            mode: Type.Optional(StringEnum(['test', 'live'] as const)),
          },
          closed,
        ),
        response: { 200: StatsSchema, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => sendResult(reply, await getStats(deps, request.query)),
  );
};
