import { sql } from 'kysely';
import { toIso, type Clock } from '../domain/clock.js';
import { fail, ok, validationProblem, type Result } from '../domain/errors.js';
import type { Db, Mode } from '../store/tables.js';

/**
 * `GET /admin/v1/stats`: per integration, mode, first channel and country, over the verifications
 * created in [from, to): `sends` (verifications started), `deliveries` (those with an attempt the
 * provider reported delivered), `approvals` (those approved) and `conversion_rate` (approvals ÷
 * sends, four decimals). Read from the verifications and deliveries tables: no counters of its own,
 * so the send path pays nothing for it; a window is a scan of the verifications table.
 */

export interface StatsRow {
  integration_id: string;
  mode: Mode;
  channel: string;
  country: string | null;
  sends: number;
  deliveries: number;
  approvals: number;
  conversion_rate: number;
}

export interface StatsAnswer {
  from: string;
  to: string;
  data: StatsRow[];
  totals: { sends: number; deliveries: number; approvals: number; conversion_rate: number };
}

/** The default window: the last seven days. */
export const DEFAULT_STATS_WINDOW_MS = 7 * 86_400_000;
/** The longest window a request may ask for. */
export const MAX_STATS_WINDOW_MS = 366 * 86_400_000;

export interface StatsQuery {
  from?: string;
  to?: string;
  integration_id?: string;
  mode?: Mode;
}

function parseTime(text: string | undefined): number | null | 'invalid' {
  if (text === undefined) return null;
  // RFC 3339 with a zone (Z or ±hh:mm); Date.parse alone takes many other spellings.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return 'invalid';
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : 'invalid';
}

const rate = (approvals: number, sends: number): number => (sends === 0 ? 0 : Math.round((approvals / sends) * 10_000) / 10_000);

export async function getStats(deps: { db: Db; clock: Clock }, query: StatsQuery): Promise<Result<StatsAnswer>> {
  const fromMs = parseTime(query.from);
  const toParsed = parseTime(query.to);
  const errors: Record<string, string[]> = {};
  if (fromMs === 'invalid') errors.from = ['format'];
  if (toParsed === 'invalid') errors.to = ['format'];
  if (fromMs === 'invalid' || toParsed === 'invalid') return fail(validationProblem('from and to are RFC 3339 times (2026-01-31T00:00:00Z).', errors));
  const to = toParsed ?? deps.clock.now();
  const from = fromMs ?? to - DEFAULT_STATS_WINDOW_MS;
  if (from >= to) return fail(validationProblem('from must be before to.', { from: ['after_to'] }));
  if (to - from > MAX_STATS_WINDOW_MS) return fail(validationProblem('The window may span at most 366 days.', { from: ['window_too_long'] }));

  const integration = query.integration_id === undefined ? sql`` : sql` and v.integration_id = ${query.integration_id}`;
  const mode = query.mode === undefined ? sql`` : sql` and v.mode = ${query.mode}`;
  const { rows } = await sql<{ integration_id: string; mode: Mode; channel: string; country: string | null; sends: number | string; deliveries: number | string; approvals: number | string }>`
    select v.integration_id, v.mode, v.channel, v.country,
      count(*) as sends,
      sum(case when exists (select 1 from deliveries d where d.verification_id = v.id and d.status = 'delivered') then 1 else 0 end) as deliveries,
      sum(case when v.status = 'approved' then 1 else 0 end) as approvals
    from verifications v
    where v.created_at >= ${from} and v.created_at < ${to}${integration}${mode}
    group by v.integration_id, v.mode, v.channel, v.country
    order by v.integration_id, v.mode, v.channel, v.country`.execute(deps.db);

  const data = rows.map((r): StatsRow => {
    const sends = Number(r.sends);
    const approvals = Number(r.approvals);
    return { integration_id: r.integration_id, mode: r.mode, channel: r.channel, country: r.country, sends, deliveries: Number(r.deliveries), approvals, conversion_rate: rate(approvals, sends) };
  });
  const sum = (pick: (r: StatsRow) => number) => data.reduce((n, r) => n + pick(r), 0);
  const totals = { sends: sum((r) => r.sends), deliveries: sum((r) => r.deliveries), approvals: sum((r) => r.approvals), conversion_rate: 0 };
  totals.conversion_rate = rate(totals.approvals, totals.sends);
  return ok({ from: toIso(from), to: toIso(to), data, totals });
}
