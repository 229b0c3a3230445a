import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { toIso, type Clock } from '../../../domain/clock.js';
import type { ProviderStatus } from '../../../delivery/providers/directory.js';
import type { PromMetrics } from '../../metrics.js';
import { listPublishedKeys } from '../../../store/signing-keys-repo.js';
import type { Db } from '../../../store/tables.js';
import { MAX_TOKEN_TTL_MS, type SigningKeyRing } from '../../../tokens/signing-keys.js';
import { NullableString, errorResponses } from '../../schemas.js';

const tags = ['operator'];
const closed = { additionalProperties: false } as const;
const SigningKeySchema = Type.Object({
  kid: Type.String(),
  alg: Type.Literal('EdDSA'),
  status: Type.String({ description: 'active (signs new tokens) | retired (still in the JWKS until its tokens expire)' }),
  created_at: Type.String(),
  retired_at: NullableString(),
});

export interface OperatorHealthDeps {
  db: Db;
  clock: Clock;
  signingKeys: SigningKeyRing;
  metrics: PromMetrics;
  providers: () => ProviderStatus[];
}

/** Signing keys (list, rotate: what `otpgate keys rotate` does) and the live providers' health. */
export const adminSigningKeyRoutes = (deps: OperatorHealthDeps): FastifyPluginAsyncTypebox => async (app) => {
  const list = async () => {
    const rows = await listPublishedKeys(deps.db, deps.clock.now() - MAX_TOKEN_TTL_MS);
    return {
      data: rows.map((r) => ({ kid: r.kid, alg: 'EdDSA' as const, status: r.retired_at === null ? 'active' : 'retired', created_at: toIso(r.created_at), retired_at: r.retired_at === null ? null : toIso(r.retired_at) })),
    };
  };
  app.get(
    '/admin/v1/signing-keys',
    { schema: { tags, summary: 'The keys that sign access tokens (those the JWKS publishes), newest first', response: { 200: Type.Object({ data: Type.Array(SigningKeySchema) }), ...errorResponses(401) } } },
    async () => list(),
  );
  app.post(
    '/admin/v1/signing-keys/rotate',
    {
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags,
        summary: 'Make a new active signing key; the previous ones stay published until their tokens expire',
        body: Type.Object({}, closed),
        response: { 201: Type.Object({ kid: Type.String(), data: Type.Array(SigningKeySchema) }), ...errorResponses(400, 401) },
      },
    },
    async (_request, reply) => {
      const kid = await deps.signingKeys.rotate();
      return reply.code(201).send({ kid, ...(await list()) });
    },
  );

  app.get(
    '/admin/v1/providers',
    {
      schema: {
        tags,
        summary: "Live providers' health as this process saw it since it started: circuit, calls, error rate, latency",
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Object({
                name: Type.String(),
                channels: Type.Array(Type.String()),
                circuit: Type.String({ description: 'closed | open | half-open' }),
                attempts: Type.Integer(),
                failures: Type.Integer(),
                error_rate: Type.Number({ description: 'failures ÷ attempts, four decimals (0 without attempts)' }),
                mean_latency_ms: Type.Union([Type.Number(), Type.Null()]),
              }),
            ),
          }),
          ...errorResponses(401),
        },
      },
    },
    async () => {
      const attempts = (await deps.metrics.providerAttempts.get()).values;
      const latency = (await deps.metrics.providerLatency.get()).values;
      return {
        data: deps.providers().map((p) => {
          const mine = attempts.filter((v) => v.labels.provider === p.name);
          const total = mine.reduce((n, v) => n + v.value, 0);
          const failed = mine.filter((v) => v.labels.result !== 'ok').reduce((n, v) => n + v.value, 0);
          const sum = latency.filter((v) => v.labels.provider === p.name && v.metricName === 'otpgate_provider_latency_seconds_sum').reduce((n, v) => n + v.value, 0);
          const count = latency.filter((v) => v.labels.provider === p.name && v.metricName === 'otpgate_provider_latency_seconds_count').reduce((n, v) => n + v.value, 0);
          return {
            name: p.name,
            channels: [...p.channels],
            circuit: p.circuit,
            attempts: total,
            failures: failed,
            error_rate: total === 0 ? 0 : Math.round((failed / total) * 10_000) / 10_000,
            mean_latency_ms: count === 0 ? null : Math.round((sum / count) * 1000 * 10) / 10,
          };
        }),
      };
    },
  );
};
