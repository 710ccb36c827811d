// The chat page as users run it: `sockit serve chat` and `sockit serve web
// --chat HOST:PORT` as two processes, a real Chromium, an nc-style user. The
// gateway process is killed with SIGKILL (no close frame, no goodbye to the
// broker) and started again on its port: the page must come back by itself,
// rejoin as the same nick, and show what it missed once.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { after, describe, it } from 'node:test';
import type { Address } from '../../src/index.js';
import { SharedBrowser, openPage, type ChatPage } from '../helpers/browser.js';
import { TextPeer } from '../helpers/chat.js';
import { startCli, startServe, type LogProcess } from '../helpers/proc.js';
import { T, count, inLog, roster, say, ui } from '../services/web/page-steps.js';
import type { Browser } from 'playwright-core';

function inet(hostPort: string): Extract<Address, { kind: 'inet' }> {
  const colon = hostPort.lastIndexOf(':');
  return { kind: 'inet', host: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
}

/** `sockit serve web --chat BROKER --port PORT`; resolves with its HOST:PORT once ready. */
async function startWeb(
  t: TestContext,
  broker: string,
  port: number,
): Promise<{ proc: LogProcess; hostPort: string }> {
  const proc = startCli(t, ['serve', 'web', '--chat', broker, '--port', String(port)]);
  const ready = await proc.waitFor((r) => r.event === 'ready', 'the gateway ready line');
  const services = ready.services as { addresses: string[] }[];
  const hostPort = String(services[0]?.addresses[0]).replace(/^http /, '');
  return { proc, hostPort };
}

async function openAs(
  t: TestContext,
  browser: Browser,
  hostPort: string,
  nick: string,
): Promise<ChatPage> {
  const chatPage = await openPage(t, browser, `http://${hostPort}/?nick=${nick}&room=lobby`);
  await inLog(chatPage.page, `you joined #lobby as ${nick}`).waitFor();
  await ui(chatPage.page).state.getByText('connected', { exact: true }).waitFor();
  return chatPage;
}

describe('sockit serve web in front of sockit serve chat, in a browser', () => {
  const browsers = new SharedBrowser();
  after(() => browsers.close());

  it(
    'a gateway process killed with SIGKILL and started again: the page rejoins as itself and shows what it missed, once',
    T,
    async (t) => {
      const browser = await browsers.get(t);
      if (!browser) return;
      const broker = await startServe(t, ['chat', '--port', '0']);
      let web = await startWeb(t, broker.tcp, 0);
      const port = inet(web.hostPort).port;

      const carol = await TextPeer.connect(t, inet(broker.tcp));
      carol.line('/nick carol');
      await carol.waitLine('is now known as carol');
      const alice = await openAs(t, browser, web.hostPort, 'alice');
      const bob = await openAs(t, browser, web.hostPort, 'bob');
      await say(alice.page, 'before the crash');
      await inLog(bob.page, 'before the crash').waitFor();
      await carol.waitLine('<alice> before the crash');

      web.proc.kill('SIGKILL');
      await web.proc.result;
      for (const { page } of [alice, bob]) {
        await page.locator('#state[data-state="reconnecting"]').waitFor();
        // No close frame came: the browser reports 1006 (abnormal closure) and the page shows it.
        await ui(page)
          .state.getByText(/closed 1006/)
          .waitFor();
      }
      // The broker saw the gateway's connections drop: alice and bob left, so
      // their nicks are free for the rejoin.
      await carol.waitLine(/alice left #lobby/);
      await carol.waitLine(/bob left #lobby/);
      carol.line('said while the gateway was down');

      web = await startWeb(t, broker.tcp, port);
      for (const { page } of [alice, bob]) {
        await ui(page).state.getByText('connected', { exact: true }).waitFor();
        await roster(page, ['alice', 'bob', 'carol']);
        // Missed while away, delivered as history on the rejoin.
        await inLog(page, 'said while the gateway was down').waitFor();
      }
      await say(bob.page, 'after the restart');
      await inLog(alice.page, 'after the restart').waitFor();
      await carol.waitLine('<bob> after the restart');
      for (const { page } of [alice, bob]) {
        for (const text of [
          'before the crash',
          'said while the gateway was down',
          'after the restart',
        ]) {
          assert.equal(await count(inLog(page, text)), 1, text);
        }
        assert.equal(await count(page.getByText(/^you joined #lobby/)), 1);
        assert.equal(await count(page.getByText(/is now known as/)), 0);
      }
      for (const { errors } of [alice, bob]) {
        assert.deepEqual(
          errors.filter((e) => !/WebSocket connection to .* failed/.test(e)),
          [],
        );
      }
      web.proc.kill('SIGTERM');
      const exit = await web.proc.result;
      assert.equal(exit.code, 0, exit.stderr);
    },
  );
});
