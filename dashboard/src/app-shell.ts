import { allIntegrations, type Integration } from './api.js';
import { h, select } from './dom.js';

/** What a page gets: where to draw, the path's parameters, the query, and cleanup on leaving. */
export interface PageContext {
  main: HTMLElement;
  params: string[];
  query: URLSearchParams;
  /** Runs when the page is left (close streams, destroy charts). */
  onLeave(fn: () => void): void;
  /** Moves to another console page (history navigation). */
  go(path: string): void;
}

export type Page = (ctx: PageContext) => Promise<void>;

export const NAV: Array<[string, string]> = [
  ['/dashboard/', 'Overview'],
  ['/dashboard/integrations', 'Integrations'],
  ['/dashboard/verifications', 'Verifications'],
  ['/dashboard/webhooks', 'Webhooks'],
  ['/dashboard/sandbox', 'Sandbox'],
  ['/dashboard/billing', 'Billing'],
  ['/dashboard/signing-keys', 'Signing keys'],
];

export function pageHeader(title: string, ...extra: HTMLElement[]): HTMLElement {
  document.title = `${title} · otpgate console`;
  return h('div', { class: 'page-header' }, h('h1', { tabindex: -1, id: 'page-title' }, title), ...extra);
}

/**
 * The integration (and mode) a page works on, from ?integration=&mode=, with a picker that reloads
 * the page with the new choice. Null when there is no integration yet.
 */
export async function integrationPicker(ctx: PageContext, options: { mode?: boolean } = {}): Promise<{ integration: Integration; mode: 'test' | 'live'; picker: HTMLElement } | null> {
  const list = await allIntegrations();
  if (list.length === 0) {
    ctx.main.append(h('p', {}, 'No integration yet. ', h('a', { href: '/dashboard/integrations/new' }, 'Create one'), '.'));
    return null;
  }
  const chosen = list.find((i) => i.id === ctx.query.get('integration')) ?? list[0]!;
  const mode = ctx.query.get('mode') === 'live' ? 'live' : 'test';
  const pick = select(list.map((i) => [i.id, `${i.name} (${i.id})`]), chosen.id, { id: 'pick-integration' });
  const modeSel = select([['test', 'Test mode'], ['live', 'Live mode']], mode, { id: 'pick-mode' });
  const reload = () => {
    const q = new URLSearchParams(ctx.query);
    q.set('integration', pick.value);
    if (options.mode !== false) q.set('mode', modeSel.value);
    ctx.go(`${location.pathname}?${q.toString()}`);
  };
  pick.addEventListener('change', reload);
  modeSel.addEventListener('change', reload);
  const picker = h(
    'div',
    { class: 'picker' },
    h('div', { class: 'field' }, h('label', { for: pick.id }, 'Integration'), pick),
    options.mode === false ? null : h('div', { class: 'field' }, h('label', { for: modeSel.id }, 'Mode'), modeSel),
  );
  return { integration: chosen, mode: options.mode === false ? 'test' : mode, picker };
}

/** An EventSource on an integration's live events, closed when the page is left. */
export function liveEvents(ctx: PageContext, integrationId: string, mode: string, onEvent: (type: string, data: { id: string; type: string; created_at: string; data: Record<string, unknown> }) => void, status?: HTMLElement): void {
  const source = new EventSource(`/admin/v1/integrations/${integrationId}/live?mode=${mode}`);
  const types = ['verification.created', 'verification.delivered', 'verification.delivery_failed', 'verification.approved', 'verification.failed', 'verification.expired', 'verification.canceled', 'identity.merged', 'identifier.locked', 'balance.low', 'sandbox.message_received'];
  for (const t of types) source.addEventListener(t, (e) => onEvent(t, JSON.parse((e as MessageEvent<string>).data)));
  source.addEventListener('open', () => {
    if (status) status.textContent = 'Live: connected';
  });
  source.addEventListener('error', () => {
    if (status) status.textContent = 'Live: reconnecting…';
    // Refused because the session ended (idle, signed out elsewhere): back to sign-in.
    fetch('/dashboard/session', { credentials: 'same-origin' }).then(
      (res) => {
        if (res.status === 401) {
          source.close();
          location.assign(`/dashboard/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
        }
      },
      () => undefined,
    );
  });
  ctx.onLeave(() => source.close());
}
