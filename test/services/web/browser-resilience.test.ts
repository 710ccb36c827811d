// The chat page in a real browser, when things go wrong or look different:
// the gateway restarts, TLS, a phone-width screen; and the docs' screenshot.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SharedBrowser, openPage } from '../../helpers/browser.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChat } from '../../helpers/chat.js';
import { selfSigned } from '../../helpers/certs.js';
import { portOf } from '../../helpers/net.js';
import { startGateway } from '../../helpers/web.js';
import { T, XSS, count, inLog, joinAs, ncUser, roster, say, ui, world } from './page-steps.js';

describe('web chat in a browser: reconnects, TLS, phones, the screenshot', () => {
  // One Chromium for the file; every test opens its own contexts and closes them.
  const browsers = new SharedBrowser();
  after(() => browsers.close());

  it(
    'when the gateway restarts the page shows reconnecting, then rejoins without duplicates',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const w = await world(t);
      const alice = await joinAs(t, w, browser, 'alice');
      const bob = await joinAs(t, w, browser, 'bob');
      await say(alice.page, 'before the restart');
      await inLog(bob.page, 'before the restart').waitFor();
      await say(bob.page, 'me too');
      await inLog(alice.page, 'me too').waitFor();

      const port = portOf(w.web.address);
      await w.web.gateway.close(0);
      for (const { page } of [alice, bob]) {
        const { state } = ui(page);
        await page.locator('#state[data-state="reconnecting"]').waitFor();
        // The close code and reason are shown.
        await state.getByText(/1001: SHUTTING_DOWN/).waitFor();
      }
      await startGateway(t, { chat: w.chat }, { kind: 'inet', host: '127.0.0.1', port });
      for (const { page } of [alice, bob]) {
        await ui(page).state.getByText('connected', { exact: true }).waitFor();
        await roster(page, ['alice', 'bob']);
      }
      await say(bob.page, 'after the restart');
      await inLog(alice.page, 'after the restart').waitFor();
      for (const { page } of [alice, bob]) {
        for (const text of ['before the restart', 'me too', 'after the restart']) {
          assert.equal(await count(inLog(page, text)), 1, text);
        }
        // The rejoin is not announced as news, nor the guest name each connection starts with.
        assert.equal(await count(page.getByText(/^you joined #lobby/)), 1);
        assert.equal(await count(page.getByText(/is now known as/)), 0);
      }
      // A refused reconnect attempt is logged by Chromium itself; nothing else may be.
      for (const { errors } of [alice, bob]) {
        assert.deepEqual(
          errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
          [],
        );
      }
    },
  );

  it('under --tls the page loads over https and chats over wss', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const { server, tcp } = await startChat(t);
    const web = await startGateway(t, { chat: server, tls: await selfSigned() });
    const carol = await ncUser(t, { chat: server, tcp, web }, 'carol');
    const { page, errors } = await openPage(t, browser, `${web.origin}/?nick=alice&room=lobby`, {
      ignoreHTTPSErrors: true,
    });
    assert.match(page.url(), /^https:/);
    await inLog(page, 'you joined #lobby as alice').waitFor();
    await say(page, 'over wss');
    await carol.waitLine('#lobby <alice> over wss');
    assert.deepEqual(errors, []);
  });

  it('on a phone-width screen (375 px) nothing scrolls sideways', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    const phone = { width: 375, height: 667 };
    const nick = 'a_rather_long_nickname_of_32_ch';
    const { page, errors } = await joinAs(t, w, browser, nick, phone);
    await say(page, `${'x'.repeat(300)} and https://example.org/${'long/'.repeat(40)}`);
    await inLog(page, `you joined #lobby as ${nick}`).waitFor();
    await page.locator('.log .message').waitFor();
    const widths = await page.evaluate<{ viewport: number; document: number; body: number }>(
      '({ viewport: window.innerWidth, document: document.documentElement.scrollWidth, body: document.body.scrollWidth })',
    );
    assert.ok(widths.document <= widths.viewport, JSON.stringify(widths));
    assert.ok(widths.body <= widths.viewport, JSON.stringify(widths));
    for (const control of [ui(page).box, page.getByRole('button', { name: 'Send' })]) {
      const box = await control.boundingBox();
      assert.ok(box !== null && box.x >= 0 && box.x + box.width <= phone.width, 'on screen');
    }
    assert.deepEqual(errors, []);
    await page.screenshot({ path: join(tmpdir(), 'sockit-web-chat-phone.png') });
  });

  it('a conversation, as a screenshot (docs/web-chat.png)', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    const carol = await ncUser(t, w, 'carol');
    const alice = await joinAs(t, w, browser, 'alice');
    const bob = await joinAs(t, w, browser, 'bob');
    await say(alice.page, 'hi bob! the page and nc share #lobby');
    await inLog(bob.page, 'hi bob! the page and nc share #lobby').waitFor();
    await say(bob.page, 'nice, nothing to install');
    carol.line('hello from nc, over plain TCP');
    await say(bob.page, '/msg alice this one is just for you');
    await say(alice.page, XSS);
    for (const text of [
      'nice, nothing to install',
      'hello from nc, over plain TCP',
      'this one is just for you',
      XSS,
    ]) {
      await inLog(alice.page, text).waitFor();
    }
    // Refresh the committed one with SOCKIT_WEB_SCREENSHOT=docs/web-chat.png npm test -- browser.
    const path = process.env.SOCKIT_WEB_SCREENSHOT ?? join(tmpdir(), 'sockit-web-chat.png');
    await alice.page.getByRole('textbox', { name: 'Message', exact: true }).blur();
    await alice.page.screenshot({ path });
    t.diagnostic(`screenshot: ${path}`);
  });
});
