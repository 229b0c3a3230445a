import { get, qs, type Page } from '../api.js';
import { integrationPicker, liveEvents, pageHeader, type PageContext } from '../app-shell.js';
import { field, h, notice, select, table, when, say } from '../dom.js';
// The API's own description of a delivery attempt (the SDK's types; erased from the bundle).
import type { Delivery } from '../../../packages/client/src/types.js';

interface Summary {
  id: string;
  status: string;
  failure_reason: string | null;
  identifier: string;
  channel: string;
  action: string;
  created_at: string;
}
interface Detail extends Summary {
  identifier_type: string;
  attempts: number;
  max_attempts: number;
  sends: number;
  expires_at: string;
  deliveries: Delivery[];
  events: Array<{ id: string; type: string; created_at: string }>;
}

/** datetime-local (the browser's time zone) → RFC 3339. */
const rfc3339 = (local: string): string | undefined => (local ? new Date(local).toISOString() : undefined);

export async function verificationsPage(ctx: PageContext): Promise<void> {
  ctx.main.append(pageHeader('Verifications'));
  const picked = await integrationPicker(ctx);
  if (!picked) return;
  const { integration, mode, picker } = picked;
  const base = `/admin/v1/integrations/${integration.id}/verifications`;
  const detailHref = (v: { id: string }) => `/dashboard/verifications/${integration.id}/${v.id}?mode=${mode}`;

  const identifier = h('input', { type: 'search', name: 'identifier', autocomplete: 'off' });
  const id = h('input', { type: 'search', name: 'id', pattern: '^ver_[0-9A-Za-z]{1,64}$', autocomplete: 'off' });
  const status = select([['', 'Any'], ['pending', 'Pending'], ['approved', 'Approved'], ['failed', 'Failed'], ['expired', 'Expired'], ['canceled', 'Canceled']], '');
  const channel = select([['', 'Any'], ['whatsapp', 'WhatsApp'], ['sms', 'SMS'], ['email', 'Email']], '');
  const from = h('input', { type: 'datetime-local', name: 'from' });
  const to = h('input', { type: 'datetime-local', name: 'to' });
  const results = h('div');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Next page');
  const message = notice();
  let cursor: string | null = null;
  let rows: Summary[] = [];

  const draw = () =>
    results.replaceChildren(
      table(
        ['Verification', 'Identifier', 'Status', 'Channel', 'Action', 'Created'],
        rows.map((v) => [h('a', { href: detailHref(v) }, h('code', {}, v.id)), v.identifier, h('span', { class: `badge ${v.status}` }, v.status), v.channel, v.action, when(v.created_at)]),
        `Verifications of ${integration.name} (${mode})`,
      ),
    );
  const load = async (append: boolean) => {
    message.textContent = '';
    if (id.value && !id.checkValidity()) {
      say(message, 'A verification id looks like ver_…', 'error');
      return;
    }
    try {
      const page = await get<Page<Summary>>(
        base + qs({ mode, identifier: identifier.value.trim(), id: id.value.trim(), status: status.value, channel: channel.value, from: rfc3339(from.value), to: rfc3339(to.value), limit: 20, cursor: append ? cursor : undefined }),
      );
      rows = append ? [...rows, ...page.data] : page.data;
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      draw();
    } catch (error) {
      say(message, (error as Error).message, 'error');
    }
  };
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter verifications' },
    field('Identifier', identifier, 'Any spelling: +55 11 98765-4321, Name@Example.com'),
    field('Verification id', id),
    field('Status', status),
    field('Channel', channel, 'The first channel the code went to.'),
    field('Created from', from),
    field('Created before', to),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search'), h('button', { type: 'reset', class: 'secondary' }, 'Clear')),
  );
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(false);
  });
  filters.addEventListener('reset', () => setTimeout(() => void load(false), 0));
  more.addEventListener('click', () => void load(true));

  // Live: new verifications of this integration and mode as they are created, and status changes.
  const liveStatus = h('span', { class: 'live-status', role: 'status' }, 'Live: connecting…');
  const liveList = h('ol', { class: 'live', 'aria-label': 'New verifications, newest first', id: 'live-list' });
  liveEvents(
    ctx,
    integration.id,
    mode,
    (type, event) => {
      const v = event.data as unknown as Summary;
      if (!type.startsWith('verification.') || typeof v.id !== 'string') return;
      if (type === 'verification.created') {
        liveList.prepend(h('li', { 'data-id': v.id }, h('a', { href: detailHref(v) }, h('code', {}, v.id)), ` ${v.identifier} · ${v.channel} · `, h('span', { class: 'badge' }, 'pending'), ` · ${when(event.created_at)}`));
        while (liveList.children.length > 50) liveList.lastElementChild?.remove();
        const filtered = identifier.value || id.value || status.value || channel.value || from.value || to.value;
        if (!filtered) {
          rows = [v, ...rows.filter((r) => r.id !== v.id)];
          draw();
        }
      } else {
        const shown = type.slice('verification.'.length);
        const badge = liveList.querySelector(`li[data-id="${CSS.escape(v.id)}"] .badge`);
        if (badge) badge.textContent = shown === 'delivery_failed' ? 'delivery failed' : shown;
        const row = rows.find((r) => r.id === v.id);
        if (row && typeof v.status === 'string') {
          row.status = v.status;
          draw();
        }
      }
    },
    liveStatus,
  );

  ctx.main.append(
    picker,
    h('section', { 'aria-labelledby': 'live-title' }, h('h2', { id: 'live-title' }, 'Live ', liveStatus), liveList),
    h('section', { 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Log'), filters, message, results, more),
  );
  await load(false);
}

export async function verificationDetailPage(ctx: PageContext): Promise<void> {
  const [integrationId, id] = ctx.params as [string, string];
  const mode = ctx.query.get('mode') === 'live' ? 'live' : 'test';
  const v = await get<Detail>(`/admin/v1/integrations/${integrationId}/verifications/${id}?mode=${mode}`);
  const timeline = h(
    'ol',
    { class: 'timeline', 'aria-label': 'Delivery timeline' },
    v.deliveries.flatMap((d) => [
      h('li', {}, `${when(d.created_at)} — ${d.channel}: queued`),
      d.sent_at ? h('li', {}, `${when(d.sent_at)} — ${d.channel}: sent through ${d.provider ?? 'a provider'}`) : null,
      d.delivered_at ? h('li', {}, `${when(d.delivered_at)} — ${d.channel}: delivered`) : null,
      d.failed_at ? h('li', { class: 'failed' }, `${when(d.failed_at)} — ${d.channel}: failed${d.error_code ? ` (${d.error_code})` : ''}${d.error ? `: ${d.error}` : ''}`) : null,
    ]),
  );
  ctx.main.append(
    pageHeader(`Verification ${v.id}`),
    h('p', {}, h('a', { href: `/dashboard/verifications?integration=${integrationId}&mode=${mode}` }, '← Back to the log')),
    h(
      'dl',
      { class: 'facts' },
      ...([
        ['Status', v.status + (v.failure_reason ? ` (${v.failure_reason})` : '')],
        ['Identifier', `${v.identifier} (${v.identifier_type})`],
        ['Channel', v.channel],
        ['Action', v.action],
        ['Attempts', `${v.attempts} of ${v.max_attempts}`],
        ['Sends', String(v.sends)],
        ['Created', when(v.created_at)],
        ['Expires', when(v.expires_at)],
      ] as Array<[string, string]>).flatMap(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]),
    ),
    h('section', { 'aria-labelledby': 'timeline-title' }, h('h2', { id: 'timeline-title' }, 'Delivery timeline'), v.deliveries.length ? timeline : h('p', {}, 'No delivery yet.')),
    h('section', { 'aria-labelledby': 'events-title' }, h('h2', { id: 'events-title' }, 'Events'), table(['Event', 'Type', 'Recorded'], v.events.map((e) => [h('code', {}, e.id), e.type, when(e.created_at)]), 'Events of this verification')),
  );
}
