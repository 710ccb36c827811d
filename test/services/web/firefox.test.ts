// The chat page in Firefox (Debian's firefox-esr over WebDriver BiDi), beside
// the Chromium suite: the same link, the same accessible structure, text-only
// rendering of peer data, a phone-width screen and a gateway restart.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { after, describe, it } from 'node:test';
import type { Browser } from 'puppeteer-core';
import {
  SharedFirefox,
  firefoxCount,
  firefoxInLog,
  firefoxRoster,
  firefoxSay,
  openFirefoxPage,
  type FirefoxPage,
} from '../../helpers/firefox.js';
import { portOf } from '../../helpers/net.js';
import { startGateway } from '../../helpers/web.js';
import { T, XSS, link, ncUser, world, type World } from './page-steps.js';

interface PageElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): { length: number };
  documentElement: { scrollWidth: number };
  body: { scrollWidth: number };
};
declare const window: { innerWidth: number };

async function joinAs(
  t: TestContext,
  w: World,
  browser: Browser,
  nick: string,
  viewport?: { width: number; height: number },
): Promise<FirefoxPage> {
  const opened = await openFirefoxPage(t, browser, link(w, nick), viewport);
  await firefoxInLog(opened.page, `you joined #lobby as ${nick}`);
  await opened.page.waitForFunction(
    () => document.querySelector('#state')?.textContent === 'connected',
  );
  return opened;
}

/** What a user's devtools would show, less Firefox's own line about a refused reconnect. */
function realErrors(errors: string[]): string[] {
  return errors.filter((e) => !/can.t establish a connection to the server at ws:/i.test(e));
}

describe('web chat in Firefox', () => {
  const browsers = new SharedFirefox();
  after(() => browsers.close());

  it(
    'joins from the link, chats with an nc user both ways, and shows markup as text',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const w = await world(t);
      const carol = await ncUser(t, w, 'carol');
      const alice = await joinAs(t, w, browser, 'alice');
      const { page } = alice;
      const csp = alice.response?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'/);

      // The structure tests and screen readers rely on, as Firefox parsed it.
      const structure = await page.evaluate(() => ({
        log: document.querySelector('#log')?.getAttribute('role'),
        label: document.querySelector('label[for="message"]')?.textContent,
        people: document.querySelector(
          `#${document.querySelector('#people')?.getAttribute('aria-labelledby') ?? ''}`,
        )?.textContent,
      }));
      assert.deepEqual(structure, { log: 'log', label: 'Message', people: 'People' });
      await firefoxRoster(page, ['alice', 'carol']);

      carol.line(XSS);
      await firefoxInLog(page, XSS);
      await firefoxSay(page, 'hello from firefox');
      await carol.waitLine('<alice> hello from firefox');
      assert.equal(await page.evaluate(() => document.querySelectorAll('#log img').length), 0);
      assert.deepEqual(alice.dialogs, []);
      assert.deepEqual(alice.errors, []);
    },
  );

  it('on a phone-width screen (375 px) nothing scrolls sideways', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    const nick = 'a_rather_long_nickname_of_32_ch';
    const phone = await joinAs(t, w, browser, nick, { width: 375, height: 667 });
    await firefoxSay(
      phone.page,
      `${'x'.repeat(300)} and https://example.org/${'long/'.repeat(40)}`,
    );
    const widths = await phone.page.evaluate(() => ({
      viewport: window.innerWidth,
      document: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
    }));
    assert.ok(widths.document <= widths.viewport, JSON.stringify(widths));
    assert.ok(widths.body <= widths.viewport, JSON.stringify(widths));
    assert.deepEqual(phone.errors, []);
    await phone.page.screenshot({ path: join(tmpdir(), 'sockit-web-chat-firefox-phone.png') });
  });

  it(
    'when the gateway restarts it shows reconnecting, then rejoins without duplicates',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const w = await world(t);
      const alice = await joinAs(t, w, browser, 'alice');
      const carol = await ncUser(t, w, 'carol');
      carol.line('before the restart');
      await firefoxInLog(alice.page, 'before the restart');

      const port = portOf(w.web.address);
      await w.web.gateway.close(0);
      await alice.page.waitForFunction(
        () => document.querySelector('#state')?.getAttribute('data-state') === 'reconnecting',
      );
      carol.line('while the gateway was away');
      await startGateway(t, { chat: w.chat }, { kind: 'inet', host: '127.0.0.1', port });
      await alice.page.waitForFunction(
        () => document.querySelector('#state')?.textContent === 'connected',
      );
      await firefoxRoster(alice.page, ['alice', 'carol']);
      await firefoxInLog(alice.page, 'while the gateway was away');
      await firefoxSay(alice.page, 'back');
      await carol.waitLine('<alice> back');
      for (const text of ['before the restart', 'while the gateway was away', 'back']) {
        assert.equal(await firefoxCount(alice.page, text), 1, text);
      }
      assert.deepEqual(realErrors(alice.errors), []);
    },
  );
});
