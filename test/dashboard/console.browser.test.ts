/**
 * The operator console in a real browser (Debian's chromium through playwright-core) against the
 * built server started as `npm start` starts it: sign in, create an integration and see its keys
 * once, watch a code sent through the API appear live, open it, edit the policy and see
 * GET /v1/policy change, configure a webhook and retry a delivery, top up, rotate a signing key,
 * sign out and be refused. axe-core runs on every page (no serious or critical violation), every
 * page is photographed at desktop and 360 px (test-artifacts/dashboard/), and no console error occurs.
 *
 * Without a chromium the suite is skipped, loudly, naming the browser it looked for (and with
 * OTPGATE_TEST_REQUIRE_SERVICES=1, as .ci/run sets, the run fails instead: test/global-setup.ts).
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { request } from '../e2e/client.js';
import { startServer, stopAllServers, type Server } from '../e2e/server.js';
import { CHROMIUM, HAVE_CHROMIUM, inspect, launch, type Browser } from './browser.js';

const title = HAVE_CHROMIUM ? 'operator console in chromium' : `operator console in chromium — SKIPPED: no browser at ${CHROMIUM} (apt-get install chromium, or set OTPGATE_TEST_CHROMIUM)`;

describe.skipIf(!HAVE_CHROMIUM)(title, { timeout: 90_000 }, () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];
  // The receiver of the webhook: answers 503 with Retry-After: 3600 until told to accept.
  let receiver: HttpServer;
  let receiverUrl = '';
  let accept = false;
  const received: Array<{ id: string; type: string; status: number }> = [];
  const state = { integrationId: '', testKey: '', liveKey: '', verificationId: '' };

  beforeAll(async () => {
    receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const type = (JSON.parse(body || '{}') as { type?: string }).type ?? '';
        const status = accept ? 200 : 503;
        received.push({ id: String(req.headers['webhook-id']), type, status });
        res.writeHead(status, status === 503 ? { 'retry-after': '3600' } : {}).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    server = await startServer({ env: { OTPGATE_WEBHOOK_ALLOW_INSECURE: '1', OTPGATE_DASHBOARD_LIVE_POLL_MS: '200', OTPGATE_WEBHOOK_POLL_MS: '100' } });
    base = `${server.url}/dashboard`;
    browser = await launch();
    page = browser.page;
    page.setDefaultTimeout(15_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stopAllServers();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  });

  const heading = (name: string) => page.getByRole('heading', { level: 1, name });

  it('sends a visitor without a session to sign-in, refuses a wrong token, and signs in by keyboard', async () => {
    await page.goto(`${base}/integrations`);
    await page.waitForURL(/\/dashboard\/sign-in\?next=/);
    problems.push(...(await inspect(page, 'sign-in')));
    const token = page.getByLabel('Admin token');
    await expect.poll(() => page.evaluate('document.activeElement?.name')).toBe('token');
    await page.keyboard.type('not-the-admin-token');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'not the admin token' }).first().waitFor();
    await token.fill(server.adminToken!);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/integrations`);
    await heading('Integrations').waitFor();
    // Keyboard: a new page moves focus to its heading; Shift+Tab goes back through the header, and
    // focus is drawn; the skip link shows when focused and moves focus to the content.
    expect(await page.evaluate('document.activeElement?.id')).toBe('page-title');
    const press = async (key: string) => {
      await page.keyboard.press(key);
      return page.evaluate('({ text: document.activeElement?.textContent, outline: getComputedStyle(document.activeElement).outlineStyle })');
    };
    expect(await press('Shift+Tab')).toEqual({ text: 'Sign out', outline: 'solid' });
    expect(await press('Shift+Tab')).toEqual({ text: 'Signing keys', outline: 'solid' });
    expect(await press('Tab')).toEqual({ text: 'Sign out', outline: 'solid' });
    await page.locator('.skip').focus();
    expect((await page.locator('.skip').boundingBox())!.x).toBeGreaterThanOrEqual(0);
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    problems.push(...(await inspect(page, 'integrations')));
  });

  it('creates an integration with a preset and shows its keys once, with copy buttons', async () => {
    await page.getByRole('link', { name: 'New integration' }).click();
    await heading('New integration').waitFor();
    problems.push(...(await inspect(page, 'integration-new')));
    await page.getByLabel('Name', { exact: true }).fill('Browser shop');
    await page.getByLabel('Trust level').selectOption('relaxed');
    await page.getByLabel('Policy preset').selectOption('low-friction');
    await page.getByRole('button', { name: 'Apply preset' }).click();
    expect(await page.locator('#p-code-length').inputValue()).toBe('4');
    // Validated as the API validates: a code length of 11 is refused before sending.
    await page.locator('#p-code-length').fill('11');
    await page.getByRole('button', { name: 'Create integration' }).click();
    await expect.poll(() => page.locator('#p-code-length').getAttribute('aria-invalid')).toBe('true');
    await page.locator('#p-code-length').fill('4');
    await page.getByRole('button', { name: 'Create integration' }).click();
    const dialog = page.getByRole('dialog', { name: /Integration “Browser shop” created/ });
    await dialog.waitFor();
    await expect.poll(() => dialog.getByRole('button', { name: /^Copy/ }).count()).toBe(4);
    state.testKey = await dialog.getByRole('textbox', { name: 'test API key' }).inputValue();
    state.liveKey = await dialog.getByRole('textbox', { name: 'live API key' }).inputValue();
    expect(state.testKey).toMatch(/^otpg_test_/);
    expect(await dialog.getByRole('textbox', { name: 'test signing secret' }).inputValue()).toMatch(/^otpg_sig_/);
    // The copy button puts the key on the clipboard.
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await dialog.getByRole('button', { name: 'Copy test API key' }).click();
    await dialog.getByText('Copied', { exact: true }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(state.testKey);
    await dialog.getByRole('button', { name: 'I have copied them' }).click();
    await heading('Browser shop').waitFor();
    state.integrationId = /integrations\/(int_\w+)/.exec(page.url())![1]!;
    // Shown once: the integration's page has the keys' prefixes, never the keys.
    await page.getByRole('cell', { name: `${state.testKey.slice(0, 14)}…` }).waitFor();
    await page.getByRole('cell', { name: `${state.liveKey.slice(0, 14)}…` }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).not.toContain(state.testKey);
    expect(text).not.toContain(state.liveKey);
    const policy = await request(server, 'GET', '/v1/policy', { key: state.testKey });
    expect((policy.body.code as { length: number }).length).toBe(4);
    expect(policy.body.trust_level).toBe('relaxed');
    problems.push(...(await inspect(page, 'integration-detail')));
  });

  it('shows a code sent through the API live, then its detail with the delivery timeline and events', async () => {
    await page.goto(`${base}/verifications?integration=${state.integrationId}&mode=test`);
    await page.getByText('Live: connected').waitFor();
    const sent = await request(server, 'POST', '/v1/verifications', { key: state.testKey, json: { identifier: '+14155550123', channel: 'sms' } });
    expect(sent.status).toBe(201);
    state.verificationId = sent.body.id as string;
    const live = page.locator('#live-list li', { hasText: state.verificationId });
    await live.waitFor({ timeout: 10_000 });
    await expect.poll(() => live.locator('.badge').innerText(), { timeout: 10_000 }).toBe('delivered');
    // The log filters: by identifier (another spelling) finds it; another status does not.
    await page.getByLabel('Identifier').fill('+1 (415) 555-0123');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table a', { hasText: state.verificationId }).waitFor();
    await page.getByLabel('Status').selectOption('approved');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('Nothing yet.').waitFor();
    problems.push(...(await inspect(page, 'verifications')));
    await live.getByRole('link').click();
    await heading(`Verification ${state.verificationId}`).waitFor();
    await page.getByRole('list', { name: 'Delivery timeline' }).getByText(/sms: delivered/).waitFor();
    await page.getByRole('cell', { name: 'verification.created' }).waitFor();
    await page.getByRole('cell', { name: 'verification.delivered' }).waitFor();
    problems.push(...(await inspect(page, 'verification-detail')));
  });

  it('edits the policy and GET /v1/policy shows the change at once', async () => {
    await page.goto(`${base}/integrations/${state.integrationId}`);
    await heading('Browser shop').waitFor();
    await page.getByText('Policy (every field)').click();
    await page.locator('#p-code-length').fill('8');
    await page.locator('#p-checks-max_attempts').fill('7');
    await page.getByRole('button', { name: 'Save changes' }).click();
    // The notice, not the preset field's hint ("… is saved."), which may be on the page too.
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const policy = await request(server, 'GET', '/v1/policy', { key: state.testKey });
    expect(policy.body.code).toMatchObject({ length: 8 });
    expect(policy.body.checks).toMatchObject({ max_attempts: 7 });
    expect(policy.body.trust_level).toBe('relaxed');
  });

  it('configures a webhook, retries a failed delivery, and sends a test event', async () => {
    await page.goto(`${base}/webhooks?integration=${state.integrationId}&mode=test`);
    await heading('Webhooks').waitFor();
    await page.getByLabel('Endpoint URL').fill(receiverUrl);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const secret = page.getByRole('dialog', { name: 'Webhook signing secret' });
    await secret.waitFor();
    expect(await secret.getByRole('textbox', { name: 'Webhook secret' }).inputValue()).toMatch(/^whsec_/);
    await secret.getByRole('button', { name: 'Done' }).click();
    // An event to deliver: the receiver refuses it (503, Retry-After one hour).
    const sent = await request(server, 'POST', '/v1/verifications', { key: state.testKey, json: { identifier: 'ops@example.com' } });
    expect(sent.status).toBe(201);
    await expect.poll(() => received.filter((r) => r.type === 'verification.created').length, { timeout: 10_000 }).toBe(1);
    const first = received.find((r) => r.type === 'verification.created')!;
    expect(first.status).toBe(503);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const row = page.locator('tr', { hasText: 'verification.created' });
    await row.getByText('HTTP 503').waitFor();
    problems.push(...(await inspect(page, 'webhooks')));
    // Retry now (the server would wait an hour): it reaches the receiver again, same webhook-id.
    accept = true;
    await row.getByRole('button', { name: /^Retry delivery/ }).click();
    await page.getByText(/is due again now/).waitFor();
    await expect.poll(() => received.filter((r) => r.id === first.id && r.status === 200).length, { timeout: 10_000 }).toBe(1);
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return page.locator('tr', { hasText: 'verification.created' }).locator('.badge').innerText();
      }, { timeout: 10_000 })
      .toBe('succeeded');
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText(/Delivered: HTTP 200/).waitFor();
    expect(received.some((r) => r.type === 'webhook.test')).toBe(true);
  });

  it('shows the sandbox live (messages, an inbox and its code), tops up, edits a price, and draws the overview charts', async () => {
    const inbox = await request(server, 'POST', '/v1/sandbox/inboxes', { key: state.testKey, json: { kind: 'email' } });
    expect(inbox.status).toBe(201);
    await page.goto(`${base}/sandbox?integration=${state.integrationId}`);
    await page.getByText('Live: connected').waitFor();
    // A code sent to the inbox's address lands in it, and the page shows it without a reload.
    const toInbox = await request(server, 'POST', '/v1/verifications', { key: state.testKey, json: { identifier: inbox.body.address as string } });
    expect(toInbox.status).toBe(201);
    const inboxRow = page.locator('#sandbox-inboxes tr', { hasText: inbox.body.address as string });
    await inboxRow.getByText('otp_received').waitFor({ timeout: 10_000 });
    const inboxCode = await inboxRow.locator('td code').last().innerText();
    expect(inboxCode).toMatch(/^\d{4,10}$/);
    await inboxRow.getByRole('button', { name: `Messages of ${inbox.body.id as string} (${inbox.body.address as string})` }).click();
    const inboxDialog = page.getByRole('dialog', { name: `Inbox ${inbox.body.address as string}` });
    await inboxDialog.getByRole('cell', { name: inboxCode, exact: true }).waitFor();
    await inboxDialog.getByRole('button', { name: 'Close' }).click();
    const sent = await request(server, 'POST', '/v1/verifications', { key: state.testKey, json: { identifier: 'sandbox-live@example.com' } });
    expect(sent.status).toBe(201);
    await page.locator('#sandbox-messages td', { hasText: 'sandbox-live@example.com' }).waitFor({ timeout: 10_000 });
    // The code shown is the one sent: checking it approves the verification (the overview counts it).
    const code = await page.locator('#sandbox-messages tr', { hasText: 'sandbox-live@example.com' }).locator('code').innerText();
    const check = await request(server, 'POST', '/v1/verifications/check', { key: state.testKey, json: { identifier: 'sandbox-live@example.com', code } });
    expect(check.body.status).toBe('approved');
    problems.push(...(await inspect(page, 'sandbox')));

    await page.goto(`${base}/billing?integration=${state.integrationId}`);
    await heading('Billing').waitFor();
    await page.getByLabel('Amount').fill('12.5');
    await page.getByRole('button', { name: 'Top up' }).click();
    await page.locator('#balance', { hasText: '12.5000' }).waitFor();
    const balance = await request(server, 'GET', '/v1/balance', { key: state.liveKey });
    expect(balance.body.balance).toBe('12.5000');
    // The price catalog: a wrong price is refused on the page; a right one is saved for every integration.
    const rows = page.locator('form[aria-label="Price catalog"] tbody tr');
    let sms = -1;
    for (let i = 0; i < (await rows.count()); i++) {
      const row = rows.nth(i);
      if ((await row.locator('select').inputValue()) === 'sms' && (await row.getByLabel('Country (* for the default)').inputValue()) === '*') sms = i;
    }
    expect(sms).toBeGreaterThanOrEqual(0);
    const price = rows.nth(sms).getByLabel('Price', { exact: true });
    await price.fill('seven cents');
    await page.getByRole('button', { name: 'Save catalog' }).click();
    await page.getByText(/Each row needs a country/).waitFor();
    await price.fill('0.0700');
    await page.getByRole('button', { name: 'Save catalog' }).click();
    await page.getByText('Catalog saved.').waitFor();
    const catalog = (await request(server, 'GET', '/v1/pricing', { key: state.testKey })).body.data as Array<{ channel: string; country: string; price: string }>;
    expect(catalog.find((p) => p.channel === 'sms' && p.country === '*')?.price).toBe('0.0700');
    problems.push(...(await inspect(page, 'billing')));

    await page.goto(`${base}/`);
    await heading('Overview').waitFor();
    await page.locator('canvas').first().waitFor();
    expect(await page.locator('canvas').count()).toBe(2);
    problems.push(...(await inspect(page, 'overview')));
  });

  it('rotates the signing key', async () => {
    await page.goto(`${base}/signing-keys`);
    await heading('Signing keys').waitFor();
    const before = (await request(server, 'GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>;
    await page.getByRole('button', { name: 'Rotate signing key' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    const status = page.getByText(/^New active key sk_/);
    await status.waitFor();
    const kid = /sk_\w+/.exec(await status.innerText())![0];
    expect(before.map((k) => k.kid)).not.toContain(kid);
    const jwks = (await request(server, 'GET', '/admin/v1/signing-keys', { bearer: server.adminToken! })).body.data as Array<{ kid: string; status: string }>;
    expect(jwks[0]).toMatchObject({ kid, status: 'active' });
    problems.push(...(await inspect(page, 'signing-keys')));
  });

  it('issues and revokes a key, and deletes an integration, each after a confirmation', async () => {
    await page.goto(`${base}/integrations/${state.integrationId}`);
    await heading('Browser shop').waitFor();
    await page.getByRole('button', { name: 'New test key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New test key' });
    const extra = await dialog.getByRole('textbox', { name: 'test API key' }).inputValue();
    await dialog.getByRole('button', { name: 'I have copied them' }).click();
    expect((await request(server, 'GET', '/v1/policy', { key: extra })).status).toBe(200);
    const revoke = page.getByRole('button', { name: `Revoke key ${extra.slice(0, 14)}` });
    await revoke.click();
    await page.getByRole('dialog', { name: 'Revoke this key?' }).getByRole('button', { name: 'Cancel' }).click();
    expect((await request(server, 'GET', '/v1/policy', { key: extra })).status).toBe(200); // cancelled: still valid
    await revoke.click();
    await page.getByRole('dialog', { name: 'Revoke this key?' }).getByRole('button', { name: 'Revoke key' }).click();
    await page.getByText(`Key ${extra.slice(0, 14)}… revoked.`).waitFor();
    await expect.poll(async () => (await request(server, 'GET', '/v1/policy', { key: extra })).status).toBe(401);
    expect((await request(server, 'GET', '/v1/policy', { key: state.testKey })).status).toBe(200); // the others stay

    const doomed = await request(server, 'POST', '/admin/v1/integrations', { bearer: server.adminToken!, json: { name: 'Doomed' } });
    await page.goto(`${base}/integrations/${doomed.body.id as string}`);
    await heading('Doomed').waitFor();
    await page.getByRole('button', { name: 'Delete integration' }).click();
    await page.getByRole('dialog', { name: 'Delete “Doomed”?' }).getByRole('button', { name: 'Delete integration' }).click();
    await heading('Integrations').waitFor();
    expect(await page.getByRole('link', { name: 'Doomed' }).count()).toBe(0);
    expect((await request(server, 'GET', `/admin/v1/integrations/${doomed.body.id as string}`, { bearer: server.adminToken! })).status).toBe(404);
  });

  it('met no serious accessibility violation, no page wider than 360 px, and no console error', () => {
    expect(problems).toEqual([]);
    // Chrome logs every answer >= 400 as an error; the scenario provokes two on purpose: the wrong
    // token at sign-in (401) and the webhook page before the webhook exists (404). Nothing else.
    const expected = [/status of 401 .* @ .*\/dashboard\/session$/, /status of 404 .* @ .*\/admin\/v1\/integrations\/int_\w+\/webhook\?mode=test$/];
    const unexpected = browser.errors.filter((e) => !expected.some((re) => re.test(e)));
    expect(unexpected).toEqual([]);
    expect(browser.errors.length).toBe(2);
  });

  it('signs out, and the session is refused everywhere afterwards', async () => {
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'otpgate_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/sign-in`);
    expect(await page.evaluate("fetch('/admin/v1/integrations').then((r) => r.status)")).toBe(401);
    await page.goto(`${base}/integrations`);
    await page.waitForURL(/\/dashboard\/sign-in/);
    // The old cookie, replayed by hand, is refused too (signed out on the server, not only forgotten).
    const replay = await request(server, 'GET', '/admin/v1/integrations', { headers: { cookie: `otpgate_session=${cookie.value}` } });
    expect(replay.status).toBe(401);
  });

});
