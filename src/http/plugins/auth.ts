import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { sha256Hex, unseal } from '../../domain/codes.js';
import { ProblemError, problem } from '../../domain/errors.js';
import type { EffectivePolicy } from '../../domain/policy.js';
import { integrationPolicy } from '../../services/integrations.js';
import type { Tenant } from '../../services/context.js';
import { findActiveKeyByHash, type ActiveKey } from '../../store/api-keys-repo.js';
import type { Db } from '../../store/tables.js';

declare module 'fastify' {
  interface FastifyRequest {
    tenant?: Tenant;
    /** The key record behind `tenant` (set by `integrationAuth`). */
    authKey?: CachedKey;
  }
}

/** A valid key as cached: its signing secret is unsealed at most once per cache entry, on first need. */
export interface CachedKey {
  readonly key: ActiveKey;
  signingSecret?: string;
  /** The tenant this key acts for, built on first use. */
  tenant?: Tenant;
}

const KEY_SHAPE = /^otpg_(test|live)_[0-9A-Za-z]{32}$/;

/** `X-API-Key: <key>` or `Authorization: Bearer <key>`. */
export function presentedApiKey(request: FastifyRequest): string | null {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header.trim();
  const auth = request.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  return null;
}

/** Policies are recomputed only when an integration's stored policy text changes. */
const policyMemo = new Map<string, EffectivePolicy>();
function memoPolicy(trustLevel: string, policyJson: string): EffectivePolicy {
  const key = `${trustLevel}\n${policyJson}`;
  let policy = policyMemo.get(key);
  if (!policy) {
    if (policyMemo.size > 10_000) policyMemo.clear();
    policy = integrationPolicy({ trust_level: trustLevel, policy_json: policyJson });
    policyMemo.set(key, policy);
  }
  return policy;
}

/**
 * How long a process trusts a key it has read without reading it again. A key revoked by any means
 * (the admin API, the CLI, another server, a direct database write) is refused by every process
 * within this long, with or without Redis: the 'keys' notice only makes it sooner. At this lifetime
 * a busy key still costs about two indexed reads a second per process.
 */
export const API_KEY_CACHE_TTL_MS = 500;

/**
 * Valid keys seen in the last moment, so the hot path skips the key read. Any operator change
 * (key revoked, integration patched or deleted) clears it in this process (and, through the 'keys'
 * notice, in the others); without a notice a process sees the change within `ttlMs`.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, { entry: CachedKey; until: number }>();
  /** Reads in flight by key hash, so an expiry under load costs one read, not one per request. */
  private readonly loading = new Map<string, Promise<CachedKey | undefined>>();
  /** Bumped by clear(): a read that started before a clear must not refill the cache with what it saw. */
  private generation = 0;
  constructor(private readonly ttlMs = API_KEY_CACHE_TTL_MS, private readonly maxEntries = 10_000) {}

  get(hash: string, now: number): CachedKey | undefined {
    const hit = this.entries.get(hash);
    if (hit && hit.until > now) return hit.entry;
    if (hit) this.entries.delete(hash);
    return undefined;
  }

  set(hash: string, key: ActiveKey, now: number): CachedKey {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const entry: CachedKey = { key };
    this.entries.set(hash, { entry, until: now + this.ttlMs });
    return entry;
  }

  /** Reads the key (sharing a read already in flight) and caches it when still current. */
  load(hash: string, read: () => Promise<ActiveKey | undefined>): Promise<CachedKey | undefined> {
    const inFlight = this.loading.get(hash);
    if (inFlight) return inFlight;
    const generation = this.generation;
    const started = Date.now();
    const promise = read().then(
      (row) => {
        if (this.loading.get(hash) === promise) this.loading.delete(hash);
        if (!row) return undefined;
        // Read before a clear: good for the requests that were waiting on it, never cached.
        if (generation !== this.generation) return { key: row };
        return this.set(hash, row, started);
      },
      (error: unknown) => {
        if (this.loading.get(hash) === promise) this.loading.delete(hash);
        throw error;
      },
    );
    this.loading.set(hash, promise);
    return promise;
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.loading.clear();
  }
}

/**
 * Resolves the integration and mode from the API key (the cache, or one indexed read), or answers
 * 401. A callback-style hook: a cached key (nearly every request) costs no promise.
 */
export function integrationAuth(db: Db, cache: ApiKeyCache) {
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const key = presentedApiKey(request);
    if (!key) return done(new ProblemError(problem('invalid-api-key', 'Send your API key in X-API-Key or as Authorization: Bearer.')));
    if (!KEY_SHAPE.test(key)) return done(unknownKey());
    const hash = sha256Hex(key);
    const cached = cache.get(hash, Date.now());
    if (cached) return done(authenticate(request, cached));
    cache.load(hash, () => findActiveKeyByHash(db, hash)).then(
      (entry) => done(entry ? authenticate(request, entry) : unknownKey()),
      (error: unknown) => done(error as Error),
    );
  };
}

const unknownKey = (): ProblemError => new ProblemError(problem('invalid-api-key', 'The API key is unknown or revoked.'));

/** Sets the request's tenant from a valid key; returns undefined (no error) for `done`. */
function authenticate(request: FastifyRequest, cached: CachedKey): undefined {
  const found = cached.key;
  request.authKey = cached;
  request.tenant = cached.tenant ??= {
    integrationId: found.integration_id,
    name: found.name,
    mode: found.mode,
    keyId: found.key_id,
    policy: memoPolicy(found.trust_level, found.policy_json),
  };
  return undefined;
}

/** The tenant set by `integrationAuth`; a route without that hook calling this is a bug. */
export function tenantOf(request: FastifyRequest): Tenant {
  if (!request.tenant) throw new Error('route is missing integration auth');
  return request.tenant;
}

/**
 * The signing secret of the key this request presented (each key has its own, so during a rotation
 * either live key's secret works, and a revoked key's never). Unsealed once per cached key.
 */
export function signingSecretOf(request: FastifyRequest, serverSecret: Buffer): string {
  const cached = request.authKey;
  if (!cached) throw new Error('route is missing integration auth');
  cached.signingSecret ??= unseal(serverSecret, cached.key.signing_secret_sealed);
  return cached.signingSecret;
}

/** Operator routes: `Authorization: Bearer <admin token>`, compared in constant time. */
export function adminAuth(adminToken: string) {
  const expected = Buffer.from(sha256Hex(adminToken), 'hex');
  return async (request: FastifyRequest): Promise<void> => {
    const auth = request.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    const ok = given !== '' && timingSafeEqual(Buffer.from(sha256Hex(given), 'hex'), expected);
    if (!ok) throw new ProblemError(problem('invalid-api-key', 'Operator routes need Authorization: Bearer <admin token>.'));
  };
}
