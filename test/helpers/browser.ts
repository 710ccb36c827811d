import type { TestContext } from 'node:test';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Page,
  type Response,
} from 'playwright-core';
import { requireTool } from './tools.js';

/**
 * Debian's Chromium (`apt-get install chromium`), driven with playwright-core.
 * Never a browser downloaded by `npx playwright install`: the tests use what
 * .ci/run installs, and a laptop without it skips loudly (CI=true fails).
 */
export const CHROMIUM = '/usr/bin/chromium';

/** Headless, and quiet: nothing but the page under test on the network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-sync',
];

/**
 * One Chromium for a file's tests (launching one takes a second), each test
 * in its own contexts, which it closes. The file closes the browser in an
 * `after` hook: `const browsers = new SharedBrowser(); after(() => browsers.close());`.
 */
export class SharedBrowser {
  private launched: Promise<Browser> | undefined;

  /**
   * The browser, launched on first use. Returns undefined after skipping the
   * test loudly when /usr/bin/chromium is missing; under CI=true that fails
   * the test instead.
   */
  async get(t: TestContext): Promise<Browser | undefined> {
    // `command -v /usr/bin/chromium` is true exactly when that file is executable.
    if (!requireTool(t, CHROMIUM, 'chromium')) return undefined;
    this.launched ??= chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    return this.launched;
  }

  async close(): Promise<void> {
    const launched = this.launched;
    this.launched = undefined;
    if (launched !== undefined) await (await launched).close();
  }
}

/** A page in its own context (its own cookies and storage, as another person's browser). */
export interface ChatPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions, as the user's devtools would show them. */
  errors: string[];
  /** Every alert/confirm/prompt the page opened (each is dismissed). */
  dialogs: string[];
  /** The answer to the page's own request. */
  response: Response | null;
}

export interface PageOptions {
  /** @default 1000×700 */
  viewport?: { width: number; height: number };
  /** Trust any certificate (a gateway's self-signed one under --tls). @default false */
  ignoreHTTPSErrors?: boolean;
}

/** Opens `url` in a fresh context and records what a user would notice going wrong. */
export async function openPage(
  t: TestContext,
  browser: Browser,
  url: string,
  options: PageOptions = {},
): Promise<ChatPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1000, height: 700 },
    ignoreHTTPSErrors: options.ignoreHTTPSErrors ?? false,
    // Deterministic screenshots: the page's light theme.
    colorScheme: 'light',
  });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') {
      errors.push(`console: ${message.text()} (${message.location().url})`);
    }
  });
  page.on('pageerror', (error) => {
    errors.push(`pageerror: ${error.message}`);
  });
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  // Waits are for locators and events, bounded well inside the test's own timeout.
  page.setDefaultTimeout(10_000);
  const response = await page.goto(url);
  return { page, context, errors, dialogs, response };
}
