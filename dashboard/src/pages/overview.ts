import { BarController, BarElement, CategoryScale, Chart, Legend, LineController, LineElement, LinearScale, PointElement, Tooltip } from 'chart.js';
import { allIntegrations, get } from '../api.js';
import { pageHeader, type PageContext } from '../app-shell.js';
import { h, select, table } from '../dom.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

interface Counts {
  sends: number;
  deliveries: number;
  approvals: number;
  conversion_rate: number;
}
interface Stats {
  from: string;
  to: string;
  data: Array<Counts & { integration_id: string; mode: string; channel: string; country: string | null }>;
  totals: Counts;
}
interface Provider {
  name: string;
  channels: string[];
  circuit: string;
  attempts: number;
  failures: number;
  error_rate: number;
  mean_latency_ms: number | null;
}

const PERIODS: Array<[string, string, number]> = [
  ['hour', 'Last hour', 3_600_000],
  ['day', 'Last day', 86_400_000],
  ['month', 'Last 30 days', 30 * 86_400_000],
];
const pct = (r: number): string => `${(r * 100).toFixed(1)} %`;

function group(stats: Stats, by: (row: Stats['data'][number]) => string): Array<[string, Counts]> {
  const out = new Map<string, Counts>();
  for (const row of stats.data) {
    const key = by(row);
    const c = out.get(key) ?? { sends: 0, deliveries: 0, approvals: 0, conversion_rate: 0 };
    c.sends += row.sends;
    c.deliveries += row.deliveries;
    c.approvals += row.approvals;
    out.set(key, c);
  }
  for (const c of out.values()) c.conversion_rate = c.sends ? Math.round((c.approvals / c.sends) * 10_000) / 10_000 : 0;
  return [...out.entries()].sort((a, b) => b[1].sends - a[1].sends).slice(0, 12);
}

/** Colours from the stylesheet, so charts follow the light or dark scheme. */
function palette(): { text: string; grid: string; series: string[] } {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return { text: v('--text'), grid: v('--border'), series: [v('--chart-1'), v('--chart-2'), v('--chart-3'), v('--chart-4')] };
}

function chartBlock(ctx: PageContext, title: string, groups: Array<[string, Counts]>): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': `${title}: ${groups.map(([k, c]) => `${k} ${c.sends} sends, ${c.deliveries} delivered, ${c.approvals} approved, ${pct(c.conversion_rate)} conversion`).join('; ') || 'no sends'}` });
  const wrap = h('div', { class: 'chart' }, canvas);
  const colours = palette();
  const chart = new Chart<'bar' | 'line', number[], string>(canvas, {
    type: 'bar',
    data: {
      labels: groups.map(([k]) => k),
      datasets: [
        { label: 'Sends', data: groups.map(([, c]) => c.sends), backgroundColor: colours.series[0], order: 1 },
        { label: 'Deliveries', data: groups.map(([, c]) => c.deliveries), backgroundColor: colours.series[1], order: 1 },
        { label: 'Approvals', data: groups.map(([, c]) => c.approvals), backgroundColor: colours.series[2], order: 1 },
        // Conversion (approvals ÷ sends) on its own axis, in per cent.
        { type: 'line', label: 'Conversion %', data: groups.map(([, c]) => Math.round(c.conversion_rate * 1000) / 10), borderColor: colours.series[3], backgroundColor: colours.series[3], yAxisID: 'rate', pointRadius: 4, order: 0 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: colours.text } } },
      scales: {
        x: { ticks: { color: colours.text }, grid: { color: colours.grid } },
        y: { beginAtZero: true, ticks: { color: colours.text, precision: 0 }, grid: { color: colours.grid }, title: { display: true, text: 'Verifications', color: colours.text } },
        rate: { position: 'right', min: 0, max: 100, ticks: { color: colours.text }, grid: { drawOnChartArea: false }, title: { display: true, text: 'Conversion %', color: colours.text } },
      },
    },
  });
  // The scheme can change while the page is open (the system's dark mode at dusk): recolour.
  const scheme = matchMedia('(prefers-color-scheme: dark)');
  const recolour = () => {
    const c = palette();
    chart.data.datasets.forEach((d, i) => {
      d.backgroundColor = c.series[i];
      if (d.type === 'line') d.borderColor = c.series[i];
    });
    const scales = chart.options.scales as Record<string, { ticks?: { color?: string }; grid?: { color?: string }; title?: { color?: string } }>;
    for (const axis of Object.values(scales)) {
      if (axis.ticks) axis.ticks.color = c.text;
      if (axis.title) axis.title.color = c.text;
      if (axis.grid && axis.grid.color !== undefined) axis.grid.color = c.grid;
    }
    const legend = chart.options.plugins?.legend?.labels;
    if (legend) legend.color = c.text;
    chart.update();
  };
  scheme.addEventListener('change', recolour);
  ctx.onLeave(() => {
    scheme.removeEventListener('change', recolour);
    chart.destroy();
  });
  return h(
    'figure',
    { class: 'chart-figure' },
    h('figcaption', {}, title),
    wrap,
    table(['', 'Sends', 'Deliveries', 'Approvals', 'Conversion'], groups.map(([k, c]) => [k, String(c.sends), String(c.deliveries), String(c.approvals), pct(c.conversion_rate)]), `${title} (table)`),
  );
}

export async function overviewPage(ctx: PageContext): Promise<void> {
  const periodId = PERIODS.some(([id]) => id === ctx.query.get('period')) ? ctx.query.get('period')! : 'day';
  const [, periodLabel, span] = PERIODS.find(([id]) => id === periodId)!;
  const period = select(PERIODS.map(([id, label]) => [id, label]), periodId, { id: 'period' });
  period.addEventListener('change', () => ctx.go(`/dashboard/?period=${period.value}`));
  const to = new Date();
  const from = new Date(to.getTime() - span);
  const [stats, providers, integrations] = await Promise.all([
    get<Stats>(`/admin/v1/stats?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`),
    get<{ data: Provider[] }>('/admin/v1/providers'),
    allIntegrations(),
  ]);
  const balances = await Promise.all(integrations.slice(0, 20).map(async (i) => ({ i, b: await get<{ balance: string; currency: string; billing_enabled: boolean }>(`/admin/v1/integrations/${i.id}/balance`) })));
  const t = stats.totals;
  ctx.main.append(
    pageHeader('Overview', h('div', { class: 'field inline' }, h('label', { for: 'period' }, 'Period'), period)),
    h(
      'ul',
      { class: 'tiles', 'aria-label': `Totals, ${periodLabel.toLowerCase()}` },
      ([['Sends', String(t.sends)], ['Deliveries', String(t.deliveries)], ['Approvals', String(t.approvals)], ['Conversion', pct(t.conversion_rate)]] as Array<[string, string]>).map(([k, v]) => h('li', {}, h('span', { class: 'tile-label' }, k), h('strong', {}, v))),
    ),
    h('div', { class: 'charts' }, chartBlock(ctx, `Per channel, ${periodLabel.toLowerCase()}`, group(stats, (r) => r.channel)), chartBlock(ctx, `Per country, ${periodLabel.toLowerCase()}`, group(stats, (r) => r.country ?? 'none'))),
    h(
      'section',
      { 'aria-labelledby': 'providers-title' },
      h('h2', { id: 'providers-title' }, 'Provider health'),
      providers.data.length === 0
        ? h('p', {}, 'No live provider is configured: every send goes to the sandbox (test keys).')
        : table(
            ['Provider', 'Channels', 'Circuit breaker', 'Calls', 'Error rate', 'Mean latency'],
            providers.data.map((p) => [p.name, p.channels.join(', '), h('span', { class: `badge ${p.circuit === 'closed' ? 'ok' : 'failed'}` }, p.circuit), String(p.attempts), pct(p.error_rate), p.mean_latency_ms === null ? '—' : `${p.mean_latency_ms} ms`]),
            'Provider health (this process, since it started)',
          ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'balances-title' },
      h('h2', { id: 'balances-title' }, 'Balances'),
      table(['Integration', 'Balance', 'Billing'], balances.map(({ i, b }) => [h('a', { href: `/dashboard/billing?integration=${i.id}` }, i.name), `${b.balance} ${b.currency}`, b.billing_enabled ? 'on' : 'off']), 'Balances'),
    ),
  );
}
