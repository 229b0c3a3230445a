import { Ajv, type Options } from 'ajv';
import type { FastifyInstance, FastifySchema } from 'fastify';

const common: Options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true };

/**
 * Two Ajv instances: bodies are checked strictly (no type coercion, unknown fields refused), while
 * query strings and path params are coerced from text as usual.
 */
export function registerValidation(app: FastifyInstance): void {
  const strict = new Ajv({ ...common, coerceTypes: false });
  const lenient = new Ajv({ ...common, coerceTypes: true });
  for (const ajv of [strict, lenient]) ajv.addKeyword('example');
  app.setValidatorCompiler(({ schema, httpPart }: { schema: FastifySchema; httpPart?: string }) =>
    httpPart === 'body' ? strict.compile(schema) : lenient.compile(schema),
  );
}
