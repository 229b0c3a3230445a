import { ApiError, del, request, setCsrf, type SessionInfo } from './api.js';
import { NAV, type Page, type PageContext } from './app-shell.js';
import { h } from './dom.js';
import { billingPage } from './pages/billing.js';
import { integrationDetailPage, integrationsPage, newIntegrationPage } from './pages/integrations.js';
import { overviewPage } from './pages/overview.js';
import { sandboxPage } from './pages/sandbox.js';
import { signInPage } from './pages/sign-in.js';
import { signingKeysPage } from './pages/signing-keys.js';
import { verificationDetailPage, verificationsPage } from './pages/verifications.js';
import { webhooksPage } from './pages/webhooks.js';

const ROUTES: Array<[RegExp, Page]> = [
  [/^\/dashboard\/?$/, overviewPage],
  [/^\/dashboard\/integrations$/, integrationsPage],
  [/^\/dashboard\/integrations\/new$/, newIntegrationPage],
  [/^\/dashboard\/integrations\/(int_[0-9A-Za-z]+)$/, integrationDetailPage],
  [/^\/dashboard\/verifications$/, verificationsPage],
  [/^\/dashboard\/verifications\/(int_[0-9A-Za-z]+)\/(ver_[0-9A-Za-z]+)$/, verificationDetailPage],
  [/^\/dashboard\/webhooks$/, webhooksPage],
  [/^\/dashboard\/sandbox$/, sandboxPage],
  [/^\/dashboard\/billing$/, billingPage],
  [/^\/dashboard\/signing-keys$/, signingKeysPage],
];

const root = document.getElementById('app')!;
let leaving: Array<() => void> = [];
/** The path and query last rendered. */
let shown = '';

function shell(): HTMLElement {
  const main = h('main', { id: 'main', tabindex: -1 });
  const signOut = h('button', { type: 'button', class: 'secondary', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    del('/dashboard/session').then(
      () => location.assign('/dashboard/sign-in'),
      () => location.assign('/dashboard/sign-in'),
    );
  });
  const nav = h(
    'nav',
    { 'aria-label': 'Console' },
    h('ul', {}, NAV.map(([href, label]) => h('li', {}, h('a', { href, 'data-nav': href }, label)))),
  );
  root.replaceChildren(
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('header', { class: 'top' }, h('a', { class: 'brand', href: '/dashboard/' }, 'otpgate console'), nav, signOut),
    main,
  );
  return main;
}

async function render(): Promise<void> {
  for (const fn of leaving) fn();
  leaving = [];
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  shown = path + location.search;
  if (path === '/dashboard/sign-in') {
    root.replaceChildren();
    const main = h('main', { id: 'main', class: 'sign-in' });
    root.append(main);
    await signInPage({ main, params: [], query, onLeave: (fn) => leaving.push(fn), go });
    return;
  }
  const main = document.getElementById('main') ?? shell();
  main.replaceChildren();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    const href = a.dataset.nav!;
    const current = href === '/dashboard/' ? path === '/dashboard/' : path.startsWith(href);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const route = ROUTES.find(([re]) => re.test(path));
  const ctx: PageContext = { main, params: route ? (route[0].exec(path)?.slice(1) ?? []) : [], query, onLeave: (fn) => leaving.push(fn), go };
  try {
    if (!route) {
      main.append(h('h1', {}, 'Not found'), h('p', {}, 'No console page here. ', h('a', { href: '/dashboard/' }, 'Overview')));
      return;
    }
    await route[1](ctx);
  } catch (error) {
    main.append(h('p', { class: 'notice error', role: 'alert' }, error instanceof ApiError ? error.message : 'Something went wrong loading this page.'));
  }
  document.getElementById('page-title')?.focus();
}

function go(path: string): void {
  history.pushState(null, '', path);
  void render();
}

// Console links navigate in place; other links (and modified clicks) behave as links do.
document.addEventListener('click', (event) => {
  const a = (event.target as Element).closest('a');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/dashboard/') || url.pathname === '/dashboard/sign-in' || url.hash) return;
  event.preventDefault();
  go(url.pathname + url.search);
});
// Back and forward re-render; a change of the hash alone (the skip link) does not.
window.addEventListener('popstate', () => {
  if (location.pathname + location.search !== shown) void render();
});

async function start(): Promise<void> {
  if (location.pathname !== '/dashboard/sign-in') {
    try {
      const session = await request<SessionInfo>('GET', '/dashboard/session');
      setCsrf(session.csrf_token);
    } catch {
      location.assign(`/dashboard/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
      return;
    }
  }
  await render();
}

void start();
