// What the browser tests do on the chat page, as a person would: open the
// shareable link, type in the box labelled Message, read the log and the
// People list. Every wait is for a locator or an event, never for time.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import type { Address, ChatServer } from '../../../src/index.js';
import { openPage, type ChatPage } from '../../helpers/browser.js';
import { TextPeer, startChat } from '../../helpers/chat.js';
import { startGateway, type StartedGateway } from '../../helpers/web.js';

export const T = { timeout: 45_000 };

export const XSS = '<img src=x onerror=alert(1)>';

export interface World {
  chat: ChatServer;
  /** The broker's TCP port, for nc users. */
  tcp: Address;
  web: StartedGateway;
}

/** A chat broker and a gateway in front of it (in this process, as `sockit serve` runs them). */
export async function world(t: TestContext): Promise<World> {
  const { server, tcp } = await startChat(t);
  const web = await startGateway(t, { chat: server });
  return { chat: server, tcp, web };
}

export function link(w: World, nick: string, room = 'lobby'): string {
  return `${w.web.origin}/?nick=${encodeURIComponent(nick)}&room=${encodeURIComponent(room)}`;
}

/** The message list, the box labelled Message, the roster labelled People, the state. */
export function ui(page: Page): { log: Locator; box: Locator; people: Locator; state: Locator } {
  return {
    log: page.getByRole('log'),
    box: page.getByRole('textbox', { name: 'Message', exact: true }),
    people: page.getByRole('list', { name: 'People' }),
    state: page.getByRole('status'),
  };
}

/** Types `text` in the Message box and presses Enter, as a person does. */
export async function say(page: Page, text: string): Promise<void> {
  const { box } = ui(page);
  await box.fill(text);
  await box.press('Enter');
  // The box empties once the message has left; an empty input shows its placeholder. (No polled page functions: a string
  // one is eval'd in the page, which its CSP forbids, as it should.)
  await page.locator('#message:placeholder-shown').waitFor();
}

/** The log's elements whose whole text is `text` (a message's text, a notice). */
export function inLog(page: Page, text: string): Locator {
  return ui(page).log.getByText(text, { exact: true });
}

/** Waits until the People list shows exactly these nicks (in any order). */
export async function roster(page: Page, nicks: string[]): Promise<void> {
  const want = [...nicks].sort();
  const items = ui(page).people.getByRole('listitem');
  for (const nick of want) {
    const exactly = new RegExp(`^${nick.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    await items.filter({ hasText: exactly }).waitFor();
  }
  // …and no one else: the item after the last is gone.
  await items.nth(want.length).waitFor({ state: 'detached' });
  assert.deepEqual((await items.allTextContents()).sort(), want);
}

/** Opens the page as `nick` via the shareable link and waits until it is in the room. */
export async function joinAs(
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
export async function ncUser(t: TestContext, w: World, nick: string): Promise<TextPeer> {
  const nc = await TextPeer.connect(t, w.tcp);
  // The broker tells text from frames by the first byte: the client speaks first.
  nc.line(`/nick ${nick}`);
  await nc.waitLine(`is now known as ${nick}`);
  return nc;
}

export async function count(locator: Locator): Promise<number> {
  return locator.count();
}
