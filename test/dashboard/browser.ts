/**
 * The browser of the console's tests: Debian's chromium driven by playwright-core, axe-core on every
 * page, screenshots as test artefacts (test-artifacts/dashboard/, gitignored).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../e2e/server.js';

/** OTPGATE_TEST_CHROMIUM, else Debian's /usr/bin/chromium. */
export const CHROMIUM = process.env.OTPGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'dashboard');

export const DESKTOP = { width: 1280, height: 860 };
export const PHONE = { width: 360, height: 740 };

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'otpgate-chromium-'));
  // A fresh profile per run (launchPersistentContext passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: DESKTOP,
    colorScheme: 'light',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} @ ${message.location().url}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/**
 * axe-core on the page as it is: the serious and critical violations. Injected through the
 * debugging protocol (the page's CSP forbids inline scripts, which is the point).
 */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  // A string, run in the page (these tests compile without the DOM's types).
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) =>
    r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * Checks a page at desktop and phone width, in light and dark: axe finds nothing serious (contrast included),
 * nothing is wider than the phone's screen, and a screenshot of each is written. Returns the problems.
 */
export async function inspect(page: Page, name: string): Promise<string[]> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const problems: string[] = [];
  const schemes: Array<'light' | 'dark'> = ['light', 'dark'];
  for (const scheme of schemes) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const [label, size] of [['desktop', DESKTOP], ['360px', PHONE]] as const) {
      await page.setViewportSize(size);
      await page.waitForTimeout(100); // charts and layout settle on resize
      await page.screenshot({ path: join(ARTIFACTS, `${name}-${label}${scheme === 'dark' ? '-dark' : ''}.png`), fullPage: true });
      for (const v of await axeViolations(page)) problems.push(`${name} ${label} ${scheme}: ${v}`);
      if (size === PHONE) {
        const wide = (await page.evaluate('document.documentElement.scrollWidth')) as number;
        if (wide > PHONE.width) problems.push(`${name} ${scheme}: the page is ${wide} px wide at 360 px`);
      }
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(DESKTOP);
  return problems;
}
