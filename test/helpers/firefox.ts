import type { TestContext } from 'node:test';
import puppeteer, { type Browser, type HTTPResponse, type Page } from 'puppeteer-core';
import { requireTool } from './tools.js';

/**
 * Debian's Firefox ESR (`apt-get install firefox-esr`), driven with
 * puppeteer-core over WebDriver BiDi. Playwright drives only its own patched
 * Firefox, which cannot be downloaded here; a stock Firefox speaks BiDi, so
 * puppeteer-core needs nothing but the Debian binary. A laptop without it
 * skips loudly (CI=true fails).
 */
export const FIREFOX = '/usr/bin/firefox-esr';

/** No update checks, telemetry or first-run pages: nothing but the page under test. */
const FIREFOX_PREFS = {
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};

// The functions below run in the page (puppeteer serialises them); the test
// project has no DOM types, so this module declares the little it touches.
interface PageElement {
  textContent: string | null;
  value?: string;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  querySelector(selector: string): PageElement | null;
};

/** One Firefox for a file (launching takes seconds); each test opens its own contexts. */
export class SharedFirefox {
  private launched: Promise<Browser> | undefined;

  async get(t: TestContext): Promise<Browser | undefined> {
    if (!requireTool(t, FIREFOX, 'firefox-esr')) return undefined;
    this.launched ??= puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      extraPrefsFirefox: FIREFOX_PREFS,
    });
    return this.launched;
  }

  async close(): Promise<void> {
    const launched = this.launched;
    this.launched = undefined;
    if (launched !== undefined) await (await launched).close();
  }
}

export interface FirefoxPage {
  page: Page;
  /** Console errors and uncaught exceptions, as the user's devtools would show them. */
  errors: string[];
  /** Every alert/confirm/prompt the page opened (each is dismissed). */
  dialogs: string[];
  response: HTTPResponse | null;
}

/** Opens `url` in a fresh browser context (another person's browser) and records what goes wrong. */
export async function openFirefoxPage(
  t: TestContext,
  browser: Browser,
  url: string,
  viewport = { width: 1000, height: 700 },
): Promise<FirefoxPage> {
  const context = await browser.createBrowserContext();
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await page.setViewport(viewport);
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => {
    errors.push(`pageerror: ${String(error)}`);
  });
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  const response = await page.goto(url);
  return { page, errors, dialogs, response };
}

/** Waits until an element of the message log has exactly this text. */
export async function firefoxInLog(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (want: string) =>
      [...document.querySelectorAll('#log li, #log span')].some((e) => e.textContent === want),
    {},
    text,
  );
}

/** How many elements of the log have exactly this text (a message's text, a notice). */
export function firefoxCount(page: Page, text: string): Promise<number> {
  return page.evaluate(
    (want: string) =>
      [...document.querySelectorAll('#log span.text')].filter((e) => e.textContent === want).length,
    text,
  );
}

/** Types in the Message box and presses Enter, as a person does; waits until the box empties. */
export async function firefoxSay(page: Page, text: string): Promise<void> {
  await page.type('#message', text);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#message')?.value === '');
}

/** Waits until the People list holds exactly these nicks. */
export async function firefoxRoster(page: Page, nicks: string[]): Promise<void> {
  const want = [...nicks].sort().join('\n');
  await page.waitForFunction(
    (w: string) =>
      [...document.querySelectorAll('#people li')]
        .map((e) => e.textContent ?? '')
        .sort()
        .join('\n') === w,
    {},
    want,
  );
}
