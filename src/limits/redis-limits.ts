import type { Redis } from 'ioredis';
import type pg from 'pg';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { FlexibleLimits, postgresFactory, type Admission, type FailureRule } from './limits.js';

/**
 * The counters of the key formats rate-limiter-flexible's RateLimiterRedis keeps (`otpg_<name>:<key>`
 * holding the count, its TTL the window), so these scripts and the library's methods read and write
 * the same keys: `admit` is the lock check and a count (`lockStatus` then `consume`: a MULTI and a
 * script), `reserve` a failure reservation (`get` then `consume`), `settle` a right code's reset or
 * give-back. A count starts its window at its first point, as the library's script does.
 */
const COUNT = `
local function count(key, points, seconds)
  redis.call('set', key, 0, 'EX', seconds, 'NX')
  local consumed = redis.call('incrby', key, points)
  local ttl = redis.call('pttl', key)
  if ttl == -1 then
    redis.call('expire', key, seconds)
    ttl = 1000 * seconds
  end
  return consumed, ttl
end
`;

/** KEYS: lock, counter; ARGV: limit, window (s). Returns {0, ttl} let through, {1, ms left} locked, {2, ttl} over the limit. */
const ADMIT = `${COUNT}
local locked = tonumber(redis.call('get', KEYS[1]) or '0')
if locked > 1 then
  local left = redis.call('pttl', KEYS[1])
  if left > 0 then return {1, left} end
end
local consumed, ttl = count(KEYS[2], 1, ARGV[2])
if consumed > tonumber(ARGV[1]) then return {2, ttl} end
return {0, ttl}
`;

/** KEYS: failures; ARGV: max failures, window (s). Returns {1, count} reserved, {0, count} refused (a spent budget is not counted again). */
const RESERVE = `${COUNT}
local current = redis.call('get', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) and redis.call('pttl', KEYS[1]) > 0 then return {0, tonumber(current)} end
local consumed = count(KEYS[1], 1, ARGV[2])
if consumed > tonumber(ARGV[1]) then return {0, consumed} end
return {1, consumed}
`;

/**
 * KEYS: failures; ARGV: approved (1/0). Approved: the failures are forgotten; otherwise one is given
 * back, if any is counted (a reset by the approving check may have forgotten it already: giving it
 * back then would make the next budget larger than max_failures).
 */
const SETTLE = `
if ARGV[1] == '1' then
  redis.call('del', KEYS[1])
elseif tonumber(redis.call('get', KEYS[1]) or '0') > 0 then
  redis.call('decrby', KEYS[1], 1)
end
return 1
`;

interface GateCommands {
  otpgAdmit(lock: string, counter: string, limit: number, seconds: number): Promise<[number, number]>;
  otpgReserve(failures: string, max: number, seconds: number): Promise<[number, number]>;
  otpgSettle(failures: string, approved: number): Promise<number>;
}

/**
 * Limits in Redis, with Postgres as rate-limiter-flexible's insurance (while Redis is down, counting
 * goes on in the database instead of failing requests: a logged, degraded mode). The hot path's
 * combined steps (`admit`, `reserveFailure`, `settleRightCode`) are one script each: a right-code
 * check asks Redis three times instead of six, a send once instead of twice. When Redis is not
 * ready, or a script fails, they fall back to the library's methods, and with them to the insurance.
 */
export class RedisLimits extends FlexibleLimits {
  private readonly commands: GateCommands;

  constructor(
    private readonly client: Redis,
    insurance: pg.Pool,
  ) {
    const insured = postgresFactory(insurance);
    super((opts) => new RateLimiterRedis({ ...opts, storeClient: client, rejectIfRedisNotReady: true, insuranceLimiter: insured(opts) }));
    client.defineCommand('otpgAdmit', { numberOfKeys: 2, lua: ADMIT });
    client.defineCommand('otpgReserve', { numberOfKeys: 1, lua: RESERVE });
    client.defineCommand('otpgSettle', { numberOfKeys: 1, lua: SETTLE });
    this.commands = client as unknown as GateCommands;
  }

  override async admit(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission> {
    if (this.client.status !== 'ready') return super.admit(name, key, points, durationS);
    let answer: [number, number];
    try {
      answer = await this.commands.otpgAdmit(`otpg_lock:${key}`, `otpg_${name}:${key}`, points, durationS);
    } catch {
      return super.admit(name, key, points, durationS);
    }
    const [verdict, ms] = answer;
    if (verdict === 1) return { ok: false, locked: true, msLeft: ms };
    if (verdict === 2) return { ok: false, locked: false, msBeforeNext: ms };
    return { ok: true };
  }

  override async reserveFailure(key: string, rule: FailureRule): Promise<{ ok: true; last: boolean } | { ok: false }> {
    if (this.client.status !== 'ready') return super.reserveFailure(key, rule);
    let answer: [number, number];
    try {
      answer = await this.commands.otpgReserve(`otpg_fail:${key}`, rule.maxFailures, rule.windowS);
    } catch {
      return super.reserveFailure(key, rule);
    }
    const [reserved, count] = answer;
    return reserved === 1 ? { ok: true, last: count >= rule.maxFailures } : { ok: false };
  }

  override async settleRightCode(key: string, rule: FailureRule, approved: boolean): Promise<void> {
    if (this.client.status !== 'ready') return super.settleRightCode(key, rule, approved);
    try {
      await this.commands.otpgSettle(`otpg_fail:${key}`, approved ? 1 : 0);
    } catch {
      await super.settleRightCode(key, rule, approved);
    }
  }
}
