// The chat page in a real browser (Debian's Chromium through playwright-core),
// with real peers: two browser contexts and an `nc`-style TCP user in one room.
// Every wait is for a locator or an event, never for time to pass.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import type { Address, ChatServer } from '../../../src/index.js';
import { SharedBrowser, openPage, type ChatPage } from '../../helpers/browser.js';
import { TextPeer, startChat } from '../../helpers/chat.js';
import { portOf } from '../../helpers/net.js';
import { startGateway, type StartedGateway } from '../../helpers/web.js';

const T = { timeout: 45_000 };

const XSS = '<img src=x onerror=alert(1)>';

interface World {
  chat: ChatServer;
  /** The broker's TCP port, for nc users. */
  tcp: Address;
  web: StartedGateway;
}

/** A chat broker and a gateway in front of it (in this process, as `sockit serve` runs them). */
async function world(t: TestContext): Promise<World> {
  const { server, tcp } = await startChat(t);
  const web = await startGateway(t, { chat: server });
  return { chat: server, tcp, web };
}

function link(w: World, nick: string, room = 'lobby'): string {
  return `${w.web.origin}/?nick=${encodeURIComponent(nick)}&room=${encodeURIComponent(room)}`;
}

/** The message list, the box labelled Message, the roster labelled People, the state. */
function ui(page: Page): { log: Locator; box: Locator; people: Locator; state: Locator } {
  return {
    log: page.getByRole('log'),
    box: page.getByRole('textbox', { name: 'Message', exact: true }),
    people: page.getByRole('list', { name: 'People' }),
    state: page.getByRole('status'),
  };
}

/** Types `text` in the Message box and presses Enter, as a person does. */
async function say(page: Page, text: string): Promise<void> {
  const { box } = ui(page);
  await box.fill(text);
  await box.press('Enter');
  // The box empties once the message has left.
  // (Page-side code as strings: the tests' TypeScript has no DOM types.)
  await page.waitForFunction("document.getElementById('message').value === ''");
}

/** The log's elements whose whole text is `text` (a message's text, a notice). */
function inLog(page: Page, text: string): Locator {
  return ui(page).log.getByText(text, { exact: true });
}

/** Waits until the People list shows exactly these nicks (in any order). */
async function roster(page: Page, nicks: string[]): Promise<void> {
  const want = [...nicks].sort();
  await page.waitForFunction(
    `JSON.stringify([...document.querySelectorAll('#people li')].map((li) => li.textContent).sort()) === ${JSON.stringify(JSON.stringify(want))}`,
  );
  const items = await ui(page).people.getByRole('listitem').allTextContents();
  assert.deepEqual([...items].sort(), want);
}

/** Opens the page as `nick` via the shareable link and waits until it is in the room. */
async function joinAs(
  t: TestContext,
  w: World,
  browser: Browser,
  nick: string,
  viewport?: { width: number; height: number },
): Promise<ChatPage> {
  const chatPage = await openPage(t, browser, link(w, nick), viewport ? { viewport } : {});
  await inLog(chatPage.page, `you joined #lobby as ${nick}`).waitFor();
  await ui(chatPage.page).state.getByText('connected', { exact: true }).waitFor();
  return chatPage;
}

/** An nc user in #lobby (where a text client starts), renamed to `nick`. */
async function ncUser(t: TestContext, w: World, nick: string): Promise<TextPeer> {
  const nc = await TextPeer.connect(t, w.tcp);
  // The broker tells text from frames by the first byte: the client speaks first.
  nc.line(`/nick ${nick}`);
  await nc.waitLine(`is now known as ${nick}`);
  return nc;
}

async function count(locator: Locator): Promise<number> {
  return locator.count();
}

describe('web chat in a browser', () => {
  // One Chromium for the file; every test opens its own contexts and closes them.
  const browsers = new SharedBrowser();
  after(() => browsers.close());

  it(
    'the page at / loads with its CSP and no console errors, and asks who you are',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const w = await world(t);
      const { page, errors, dialogs, response } = await openPage(t, browser, `${w.web.origin}/`);
      assert.ok(response !== null, 'the page answered');
      assert.equal(response.status(), 200);
      const headers = response.headers();
      const csp = String(headers['content-security-policy']);
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(headers['x-content-type-options'], 'nosniff');

      // No nick in the URL: the page asks, and is not connected yet.
      await page.getByRole('textbox', { name: 'Nickname' }).fill('dora');
      await page.getByRole('textbox', { name: 'Room' }).fill('lobby');
      await page.getByRole('button', { name: 'Join' }).click();
      await inLog(page, 'you joined #lobby as dora').waitFor();
      await roster(page, ['dora']);
      await ui(page).state.getByText('connected', { exact: true }).waitFor();
      // The shareable link is now in the address bar.
      assert.equal(new URL(page.url()).searchParams.get('nick'), 'dora');
      await say(page, 'first words');
      await inLog(page, 'first words').waitFor();
      assert.deepEqual(errors, []);
      assert.deepEqual(dialogs, []);
    },
  );

  it(
    '?nick=&room= joins directly; two browsers and an nc user get every message once',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const w = await world(t);
      const carol = await ncUser(t, w, 'carol');
      const alice = await joinAs(t, w, browser, 'alice');
      const bob = await joinAs(t, w, browser, 'bob');
      await roster(alice.page, ['alice', 'bob', 'carol']);
      await roster(bob.page, ['alice', 'bob', 'carol']);
      await inLog(alice.page, 'bob joined #lobby').waitFor();

      await say(alice.page, 'hello from alice');
      await inLog(bob.page, 'hello from alice').waitFor();
      await inLog(alice.page, 'hello from alice').waitFor(); // the sender's own copy
      await carol.waitLine('#lobby <alice> hello from alice');

      await say(bob.page, 'hello from bob');
      await inLog(alice.page, 'hello from bob').waitFor();
      await carol.waitLine('#lobby <bob> hello from bob');

      carol.line('hello from carol');
      await inLog(alice.page, 'hello from carol').waitFor();
      await inLog(bob.page, 'hello from carol').waitFor();

      // A private message reaches its target only.
      await say(alice.page, '/msg bob just for bob');
      await inLog(bob.page, 'just for bob').waitFor();
      await inLog(alice.page, 'just for bob').waitFor(); // shown to its sender, marked private
      assert.equal(await bob.page.locator('.log .private').count(), 1);

      // The last word: once everyone has it, nothing else can still be on its way.
      carol.line('that is all');
      await inLog(alice.page, 'that is all').waitFor();
      await inLog(bob.page, 'that is all').waitFor();
      for (const { page } of [alice, bob]) {
        for (const text of ['hello from alice', 'hello from bob', 'hello from carol']) {
          assert.equal(await count(inLog(page, text)), 1, text);
        }
      }
      assert.ok(!carol.lines.items.some((l) => l.includes('just for bob')), 'carol saw a PM');
      assert.equal(carol.lines.items.filter((l) => l.includes('hello from bob')).length, 1);
      assert.deepEqual([...alice.errors, ...bob.errors], []);
    },
  );

  it('a nick that is taken gets a clear message, and another one joins', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    await joinAs(t, w, browser, 'alice');
    const { page, errors } = await openPage(t, browser, link(w, 'ALICE'));
    const alert = page.getByRole('alert');
    await alert.getByText('The nickname "ALICE" is taken: choose another.').waitFor();
    const nickname = page.getByRole('textbox', { name: 'Nickname' });
    await nickname.fill('alice2');
    await page.getByRole('button', { name: 'Join' }).click();
    await inLog(page, 'you joined #lobby as alice2').waitFor();
    await roster(page, ['alice', 'alice2']);
    assert.equal(await alert.isVisible(), false, 'the problem is cleared once joined');
    assert.deepEqual(errors, []);
  });

  it('markup from peers is shown as text: no dialog, no element', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    const carol = await ncUser(t, w, 'carol');
    const alice = await joinAs(t, w, browser, 'alice');
    const bob = await joinAs(t, w, browser, 'bob');

    await say(alice.page, XSS);
    await inLog(bob.page, XSS).waitFor();
    await carol.waitLine(`#lobby <alice> ${XSS}`);
    carol.line(`${XSS} from nc`);
    await inLog(alice.page, `${XSS} from nc`).waitFor();
    await inLog(bob.page, `${XSS} from nc`).waitFor();

    // As a nick: the page refuses it before it is sent, and shows it back as typed.
    const mallory = await openPage(t, browser, link(w, XSS));
    await mallory.page
      .getByRole('alert')
      .getByText(/A nickname is/)
      .waitFor();
    assert.equal(await mallory.page.getByRole('textbox', { name: 'Nickname' }).inputValue(), XSS);

    for (const { page, dialogs, errors } of [alice, bob, mallory]) {
      assert.equal(await page.locator('img').count(), 0, 'no element was created');
      assert.deepEqual(dialogs, []);
      assert.deepEqual(errors, []);
    }
  });

  it('history on join is shown once, marked as history', T, async (t) => {
    const browser = await browsers.get(t);
    if (!browser) return;
    const w = await world(t);
    const carol = await ncUser(t, w, 'carol');
    carol.line('said before anyone came');
    carol.line('and again');
    // A text client does not get its own lines back; /history shows the room has them.
    carol.line('/history');
    await carol.waitLine('* end of #lobby history');
    assert.ok(carol.lines.items.some((l) => l.includes('<carol> and again')));

    const alice = await joinAs(t, w, browser, 'alice');
    await inLog(alice.page, 'and again').waitFor();
    carol.line('live now');
    await inLog(alice.page, 'live now').waitFor();
    for (const text of ['said before anyone came', 'and again', 'live now']) {
      assert.equal(await count(inLog(alice.page, text)), 1, text);
    }
    assert.equal(await alice.page.locator('.log .history').count(), 2);
    assert.equal(
      await alice.page.locator('.log .history').filter({ hasText: 'live now' }).count(),
      0,
    );
  });

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
