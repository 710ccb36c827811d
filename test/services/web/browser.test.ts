// The chat page in a real browser (Debian's Chromium through playwright-core),
// with real peers: two browser contexts and an `nc`-style TCP user in one room.
// (Split from browser-resilience.test.ts: each file has the runner's 60 s.)
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SharedBrowser, openPage } from '../../helpers/browser.js';
import {
  T,
  XSS,
  count,
  inLog,
  joinAs,
  link,
  ncUser,
  roster,
  say,
  ui,
  world,
} from './page-steps.js';

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
});
