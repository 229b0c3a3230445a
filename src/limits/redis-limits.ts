import type { Redis } from 'ioredis';
import type pg from 'pg';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { counterKey, FlexibleLimits, postgresFactory, type Admission, type FailureRule, type Reservation } from './limits.js';

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

/** The lock check then one count: {0, ttl} let through, {1, ms left} locked, {2, ttl} over the limit. */
const ADMIT_STEPS = `
local function admit(lock, counter, limit, seconds)
  local locked = tonumber(redis.call('get', lock) or '0')
  if locked > 1 then
    local left = redis.call('pttl', lock)
    if left > 0 then return 1, left end
  end
  local consumed, ttl = count(counter, 1, seconds)
  if consumed > tonumber(limit) then return 2, ttl end
  return 0, ttl
end
-- One failure of the budget: 1 reserved or 0 refused, and the count (a spent budget is not counted again).
local function reserve(failures, max, seconds)
  local current = redis.call('get', failures)
  if current and tonumber(current) >= tonumber(max) and redis.call('pttl', failures) > 0 then return 0, tonumber(current) end
  local consumed = count(failures, 1, seconds)
  if consumed > tonumber(max) then return 0, consumed end
  return 1, consumed
end
`;

/** KEYS: lock, counter; ARGV: limit, window (s). */
const ADMIT = `${COUNT}${ADMIT_STEPS}
local verdict, ms = admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return {verdict, ms}
`;

/** KEYS: failures; ARGV: max failures, window (s). Returns {1 reserved or 0 refused, count}. */
const RESERVE = `${COUNT}${ADMIT_STEPS}
local reserved, failures = reserve(KEYS[1], ARGV[1], ARGV[2])
return {reserved, failures}
`;

/** KEYS: lock, check counter, failures; ARGV: check limit, its window (s), max failures, their window (s). Returns {verdict, ms, reserved, failures}. */
const ADMIT_CHECK = `${COUNT}${ADMIT_STEPS}
local verdict, ms = admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if verdict ~= 0 then return {verdict, ms, 0, 0} end
local reserved, failures = reserve(KEYS[3], ARGV[3], ARGV[4])
return {0, ms, reserved, failures}
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
  otpgAdmitCheck(lock: string, counter: string, failures: string, limit: number, seconds: number, max: number, window: number): Promise<[number, number, number, number]>;
  otpgSettle(failures: string, approved: number): Promise<number>;
}

/**
 * Limits in Redis, with Postgres as rate-limiter-flexible's insurance (while Redis is down, counting
 * goes on in the database instead of failing requests: a logged, degraded mode). The hot path's
 * combined steps (`admit`, `admitCheck`, `reserveFailure`, `settleReservation`) are one script each:
 * a right-code check asks Redis twice instead of six times, a send once instead of twice. When Redis is not
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
    client.defineCommand('otpgAdmitCheck', { numberOfKeys: 3, lua: ADMIT_CHECK });
    client.defineCommand('otpgSettle', { numberOfKeys: 1, lua: SETTLE });
    this.commands = client as unknown as GateCommands;
  }

  override async admit(name: 'send' | 'check', key: string, points: number, durationS: number): Promise<Admission> {
    if (this.client.status !== 'ready') return super.admit(name, key, points, durationS);
    let answer: [number, number];
    try {
      answer = await this.commands.otpgAdmit(counterKey('lock', key), counterKey(name, key), points, durationS);
    } catch {
      return super.admit(name, key, points, durationS);
    }
    const [verdict, ms] = answer;
    if (verdict === 1) return { ok: false, locked: true, msLeft: ms };
    if (verdict === 2) return { ok: false, locked: false, msBeforeNext: ms };
    return { ok: true };
  }

  override async admitCheck(key: string, points: number, durationS: number, rule: FailureRule): Promise<{ admission: Admission; reservation: Reservation | null }> {
    if (this.client.status !== 'ready') return super.admitCheck(key, points, durationS, rule);
    let answer: [number, number, number, number];
    try {
      answer = await this.commands.otpgAdmitCheck(counterKey('lock', key), counterKey('check', key), counterKey('fail', key), points, durationS, rule.maxFailures, rule.windowS);
    } catch {
      return super.admitCheck(key, points, durationS, rule);
    }
    const [verdict, ms, reserved, failures] = answer;
    if (verdict === 1) return { admission: { ok: false, locked: true, msLeft: ms }, reservation: null };
    if (verdict === 2) return { admission: { ok: false, locked: false, msBeforeNext: ms }, reservation: null };
    return { admission: { ok: true }, reservation: reserved === 1 ? { ok: true, last: failures >= rule.maxFailures } : { ok: false } };
  }

  override async reserveFailure(key: string, rule: FailureRule): Promise<Reservation> {
    if (this.client.status !== 'ready') return super.reserveFailure(key, rule);
    let answer: [number, number];
    try {
      answer = await this.commands.otpgReserve(counterKey('fail', key), rule.maxFailures, rule.windowS);
    } catch {
      return super.reserveFailure(key, rule);
    }
    const [reserved, count] = answer;
    return reserved === 1 ? { ok: true, last: count >= rule.maxFailures } : { ok: false };
  }

  override async settleReservation(key: string, rule: FailureRule, approved: boolean): Promise<void> {
    if (this.client.status !== 'ready') return super.settleReservation(key, rule, approved);
    try {
      await this.commands.otpgSettle(counterKey('fail', key), approved ? 1 : 0);
    } catch {
      await super.settleReservation(key, rule, approved);
    }
  }
}
