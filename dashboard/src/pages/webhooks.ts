import { ApiError, del, get, patch, post, qs, type Page } from '../api.js';
import { integrationPicker, pageHeader, type PageContext } from '../app-shell.js';
import { WEBHOOK_EVENT_TYPES } from '../../../src/webhooks/event-types.js';
import { confirmDialog, dialog, field, h, notice, secretField, setFieldError, table, when, say } from '../dom.js';
// The API's own description of a webhook delivery (the SDK's types; erased from the bundle).
import type { WebhookDelivery as Delivery } from '../../../packages/client/src/types.js';

interface Webhook {
  url: string;
  events: string[];
  is_active: boolean;
  disabled_reason: string | null;
  previous_secret_expires_at: string | null;
  secret?: string;
}

export async function webhooksPage(ctx: PageContext): Promise<void> {
  ctx.main.append(pageHeader('Webhooks'));
  const picked = await integrationPicker(ctx);
  if (!picked) return;
  const { integration, mode, picker } = picked;
  const base = `/admin/v1/integrations/${integration.id}/webhook`;
  const m = `?mode=${mode}`;
  let current: Webhook | null = null;
  try {
    current = await get<Webhook>(base + m);
  } catch (error) {
    if (!(error instanceof ApiError && error.problem.status === 404)) throw error;
  }

  const url = h('input', { type: 'url', required: true, maxlength: 2048, value: current?.url ?? '', placeholder: 'https://example.com/otpgate' });
  const all = h('input', { type: 'checkbox', id: 'wh-all', checked: !current || current.events.includes('*') });
  const eventBoxes = WEBHOOK_EVENT_TYPES.map((t) => {
    const box = h('input', { type: 'checkbox', value: t, id: `wh-${t.replace('.', '-')}`, checked: current ? current.events.includes(t) : false });
    return { t, box, el: h('div', { class: 'field checkbox' }, box, h('label', { for: box.id }, t)) };
  });
  const syncAll = () => eventBoxes.forEach((e) => (e.box.disabled = all.checked));
  all.addEventListener('change', syncAll);
  syncAll();
  const secret = h('input', { type: 'text', maxlength: 200, autocomplete: 'off', placeholder: 'leave empty to keep (or generate on creation)' });
  const active = h('input', { type: 'checkbox', id: 'wh-active', checked: current?.is_active ?? true });
  const saveBtn = h('button', { type: 'submit' }, current ? 'Save webhook' : 'Create webhook');
  const status = notice(current?.disabled_reason ? `Turned off by the server: ${current.disabled_reason}` : '', current?.disabled_reason ? 'error' : 'info');
  const form = h(
    'form',
    { novalidate: true, 'aria-label': 'Webhook configuration' },
    field('Endpoint URL', url, 'https on a public address (unless the server allows insecure webhooks).'),
    h('fieldset', {}, h('legend', {}, 'Events'), h('div', { class: 'field checkbox' }, all, h('label', { for: 'wh-all' }, 'All events (*)')), h('div', { class: 'grid' }, eventBoxes.map((e) => e.el))),
    field('Signing secret', secret, '16+ printable characters, or a whsec_… secret; a new secret signs beside the old one for 24 h.'),
    h('div', { class: 'field checkbox' }, active, h('label', { for: 'wh-active' }, 'Active (off: deliveries are held)')),
    h('div', { class: 'actions' }, saveBtn),
    status,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setFieldError(url, url.value.trim() ? '' : 'Required.');
    if (!url.value.trim()) return url.focus();
    const events = all.checked ? ['*'] : eventBoxes.filter((x) => x.box.checked).map((x) => x.t);
    if (events.length === 0) {
      say(status, 'Choose at least one event.', 'error');
      return;
    }
    try {
      const saved = await patch<Webhook>(base + m, { url: url.value.trim(), events, is_active: active.checked, ...(secret.value ? { secret: secret.value } : {}) });
      current = saved;
      secret.value = '';
      testBtn.hidden = removeBtn.hidden = false;
      saveBtn.textContent = 'Save webhook';
      say(status, 'Webhook saved.', 'ok');
      if (saved.secret) dialog('Webhook signing secret', [h('p', { class: 'notice info' }, 'Shown once: copy it now.'), secretField('Webhook secret', saved.secret)], (close) => [h('button', { type: 'button', onclick: close }, 'Done')]);
      await drawDeliveries();
    } catch (error) {
      say(status, (error as Error).message, 'error');
      if (error instanceof ApiError && (error.problem.type === 'invalid-webhook-url' || error.problem.errors?.url)) setFieldError(url, error.message);
    }
  });

  const testResult = notice();
  const testBtn = h('button', { type: 'button', class: 'secondary', id: 'webhook-test' }, 'Send test event');
  testBtn.addEventListener('click', async () => {
    say(testResult, 'Sending…', 'info');
    try {
      const r = await post<{ delivered: boolean; status: number | null; response_time_ms: number; error: string | null }>(`${base}/test${m}`);
      say(testResult, r.delivered ? `Delivered: HTTP ${r.status} in ${r.response_time_ms} ms.` : `Not delivered: ${r.error ?? `HTTP ${r.status}`}.`, r.delivered ? 'ok' : 'error');
    } catch (error) {
      say(testResult, (error as Error).message, 'error');
    }
  });
  const removeBtn = h('button', { type: 'button', class: 'danger' }, 'Remove webhook');
  testBtn.hidden = removeBtn.hidden = current === null;
  removeBtn.addEventListener('click', async () => {
    if (!(await confirmDialog('Remove the webhook?', 'Its pending deliveries are dropped.', 'Remove'))) return;
    await del(base + m);
    ctx.go(`${location.pathname}${location.search}`);
  });

  const deliveries = h('div');
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');
  const drawDeliveries = async () => {
    if (!current) return deliveries.replaceChildren(h('p', {}, 'No webhook in this mode yet.'));
    const page = await get<Page<Delivery>>(`${base}/deliveries${qs({ mode, limit: 50 })}`);
    deliveries.replaceChildren(
      table(
        ['Delivery', 'Event', 'Status', 'Attempts', 'Last answer', 'Next attempt', ''],
        page.data.map((d) => [
          h('code', {}, d.id),
          d.event_type,
          h('span', { class: `badge ${d.status}` }, d.status),
          String(d.attempts),
          d.response_status !== null ? `HTTP ${d.response_status}` : (d.error ?? '—'),
          when(d.next_attempt_at),
          h('button', {
            type: 'button',
            class: 'secondary small',
            'aria-label': `Retry delivery ${d.id}`,
            onclick: async () => {
              try {
                await post(`${base}/deliveries/${d.id}/retry${m}`);
                say(status, `Delivery ${d.id} is due again now.`, 'ok');
              } catch (error) {
                say(status, (error as Error).message, 'error');
              }
              await drawDeliveries();
            },
          }, 'Retry'),
        ]),
        'Webhook deliveries',
      ),
    );
  };
  refresh.addEventListener('click', () => void drawDeliveries());

  ctx.main.append(
    picker,
    h('section', { 'aria-labelledby': 'cfg-title' }, h('h2', { id: 'cfg-title' }, `Configuration (${mode})`), form, h('div', { class: 'row' }, testBtn, removeBtn), testResult),
    h('section', { 'aria-labelledby': 'dl-title' }, h('h2', { id: 'dl-title' }, 'Delivery log'), refresh, deliveries),
  );
  await drawDeliveries();
}
