import { ApiError, get, post, put, qs, type Page } from '../api.js';
import { integrationPicker, pageHeader, type PageContext } from '../app-shell.js';
import { field, h, notice, select, setFieldError, table, when, say } from '../dom.js';

interface Balance {
  balance: string;
  currency: string;
  billing_enabled: boolean;
  low_balance_threshold: string;
}
interface Entry {
  id: string;
  type: string;
  amount: string;
  balance_after: string;
  reference: string | null;
  description: string | null;
  mode: string;
  created_at: string;
}
interface Price {
  channel: string;
  country: string;
  price: string;
}

const MONEY = '^\\d{1,12}(\\.\\d{1,4})?$';
const CHANNELS = ['whatsapp', 'sms', 'email', 'inbox_phone', 'inbox_email'];

export async function billingPage(ctx: PageContext): Promise<void> {
  ctx.main.append(pageHeader('Billing'));
  const picked = await integrationPicker(ctx, { mode: false });
  if (!picked) return;
  const { integration, picker } = picked;
  const base = `/admin/v1/integrations/${integration.id}`;
  const summary = h('p', { id: 'balance', role: 'status' });
  const ledger = h('div');
  const draw = async () => {
    const [b, l] = await Promise.all([get<Balance>(`${base}/balance`), get<Page<Entry>>(`${base}/balance/transactions${qs({ limit: 50 })}`)]);
    summary.replaceChildren(h('strong', {}, `${b.balance} ${b.currency}`), ` · billing ${b.billing_enabled ? 'on' : 'off'} for this integration · low-balance alert under ${b.low_balance_threshold}`);
    ledger.replaceChildren(
      table(['When', 'Type', 'Amount', 'Balance after', 'Reference', 'Mode'], l.data.map((e) => [when(e.created_at), e.type, e.amount, e.balance_after, e.reference ?? '—', e.mode]), 'Ledger'),
    );
  };

  const amount = h('input', { type: 'text', inputmode: 'decimal', required: true, pattern: MONEY, placeholder: '25.0000' });
  const reference = h('input', { type: 'text', maxlength: 100, autocomplete: 'off' });
  const description = h('input', { type: 'text', maxlength: 200, autocomplete: 'off' });
  const topupStatus = notice();
  const topup = h('form', { novalidate: true, 'aria-label': 'Top up' }, field('Amount', amount, 'A decimal with up to four places.'), field('Reference (optional)', reference, 'The same reference again adds nothing.'), field('Description (optional)', description), h('button', { type: 'submit' }, 'Top up'), topupStatus);
  topup.addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = new RegExp(MONEY).test(amount.value.trim()) && Number(amount.value) > 0;
    setFieldError(amount, ok ? '' : 'A positive amount such as 25 or 25.5000.');
    if (!ok) return amount.focus();
    try {
      await post(`${base}/topups`, { amount: amount.value.trim(), ...(reference.value.trim() ? { reference: reference.value.trim() } : {}), ...(description.value.trim() ? { description: description.value.trim() } : {}) });
      say(topupStatus, 'Topped up.', 'ok');
      amount.value = '';
      await draw();
    } catch (error) {
      say(topupStatus, (error as Error).message, 'error');
    }
  });

  // The price catalog (deployment-wide): rows edited in place, saved whole (PUT).
  const catalog = (await get<{ data: Price[] }>('/admin/v1/pricing')).data.map((p) => ({ channel: p.channel, country: p.country, price: p.price }));
  const body = h('tbody');
  const priceStatus = notice();
  const row = (p: Price) => {
    const ch = select(CHANNELS.map((c) => [c, c]), p.channel, { 'aria-label': 'Channel' });
    const country = h('input', { type: 'text', value: p.country, maxlength: 2, pattern: '^(\\*|[A-Z]{2})$', 'aria-label': 'Country (* for the default)', size: 3 });
    const price = h('input', { type: 'text', value: p.price, pattern: MONEY, inputmode: 'decimal', 'aria-label': 'Price', size: 10 });
    const tr = h('tr', {}, h('td', {}, ch), h('td', {}, country), h('td', {}, price), h('td', {}, h('button', { type: 'button', class: 'secondary small', onclick: () => tr.remove(), 'aria-label': 'Remove this price' }, 'Remove')));
    return tr;
  };
  body.append(...catalog.map(row));
  const add = h('button', { type: 'button', class: 'secondary', onclick: () => body.append(row({ channel: 'sms', country: '', price: '' })) }, 'Add price');
  const prices = h(
    'form',
    { novalidate: true, 'aria-label': 'Price catalog' },
    h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, 'Prices per channel and country (* is the default row)'), h('thead', {}, h('tr', {}, ['Channel', 'Country', 'Price', ''].map((t) => h('th', { scope: 'col' }, t)))), body)),
    h('div', { class: 'row' }, add, h('button', { type: 'submit' }, 'Save catalog')),
    priceStatus,
  );
  prices.addEventListener('submit', async (e) => {
    e.preventDefault();
    const rows = [...body.querySelectorAll('tr')].map((tr) => {
      const [ch, country, price] = [...tr.querySelectorAll<HTMLInputElement | HTMLSelectElement>('select, input')] as [HTMLSelectElement, HTMLInputElement, HTMLInputElement];
      const ok = country.checkValidity() && country.value !== '' && price.checkValidity() && price.value !== '';
      country.setAttribute('aria-invalid', String(!country.checkValidity() || country.value === ''));
      price.setAttribute('aria-invalid', String(!price.checkValidity() || price.value === ''));
      return { ok, value: { channel: ch.value, country: country.value.trim(), price: price.value.trim() } };
    });
    if (rows.some((r) => !r.ok)) {
      say(priceStatus, 'Each row needs a country (* or two capital letters) and a price such as 0.0500.', 'error');
      return;
    }
    try {
      await put('/admin/v1/pricing', { prices: rows.map((r) => r.value) });
      say(priceStatus, 'Catalog saved.', 'ok');
    } catch (error) {
      const errors = error instanceof ApiError ? error.problem.errors : undefined;
      say(priceStatus, `${(error as Error).message}${errors ? ` ${Object.entries(errors).map(([k, v]) => `${k}: ${v.join(', ')}`).join('; ')}` : ''}`, 'error');
    }
  });

  ctx.main.append(
    picker,
    h('section', { 'aria-labelledby': 'bal-title' }, h('h2', { id: 'bal-title' }, 'Balance'), summary, topup),
    h('section', { 'aria-labelledby': 'led-title' }, h('h2', { id: 'led-title' }, 'Ledger'), ledger),
    h('section', { 'aria-labelledby': 'cat-title' }, h('h2', { id: 'cat-title' }, 'Price catalog'), prices),
  );
  await draw();
}
