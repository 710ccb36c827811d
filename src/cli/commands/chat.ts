import { createInterface, type Interface } from 'node:readline';
import { Command } from 'commander';
import pc from 'picocolors';
import {
  CHAT_PORT,
  ChatClient,
  SockitError,
  escapeText,
  parseAddress,
  type ChatEvent,
} from '../../index.js';
import {
  DEFAULT_ROOM,
  TEXT_HELP,
  parseChatRequest,
  parseTextLine,
} from '../../services/chat/internal.js';
import { parseDuration } from '../options.js';
import { EXIT_OK, Output } from '../output.js';
import { addTlsClientOptions, tlsOption, type TlsCliOptions } from '../tls-options.js';
import { printer } from '../terminal.js';

interface ChatOptions extends TlsCliOptions {
  nick?: string;
  room: string;
  json: boolean;
  timeout: number;
}

type Colors = ReturnType<typeof pc.createColors>;

const NICK_COLOURS = ['red', 'green', 'yellow', 'blue', 'magenta', 'cyan'] as const;

/** The same nick always gets the same colour. */
function nickColour(colors: Colors, nick: string): (text: string) => string {
  let hash = 0;
  for (const c of nick.toLowerCase()) hash = (hash * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
  return colors[NICK_COLOURS[hash % NICK_COLOURS.length] ?? 'cyan'];
}

function clock(ts: unknown): string {
  const d = typeof ts === 'number' ? new Date(ts) : new Date();
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** How an event reads for people. Every peer string is escaped: nicks are checked by the server, but not trusted here. */
export function describeChatEvent(
  event: ChatEvent,
  me: string,
  colors: Colors,
): string | undefined {
  const nick = (n: string): string => nickColour(colors, n)(escapeText(n));
  switch (event.type) {
    case 'message': {
      const time = colors.dim(clock(event.ts));
      const text = escapeText(event.text);
      if (event.to !== undefined) {
        return event.from === me
          ? `${time} ${colors.dim(`-> *${escapeText(event.to)}*`)} ${text}`
          : `${time} ${colors.bold(`*${nick(event.from)}*`)} ${text}`;
      }
      return `${time} ${colors.dim(`#${escapeText(event.room ?? '?')}`)} <${nick(event.from)}> ${text}`;
    }
    case 'joined':
      return colors.dim(`* ${escapeText(event.nick)} joined #${escapeText(event.room)}`);
    case 'left':
      return colors.dim(
        `* ${escapeText(event.nick)} left #${escapeText(event.room)} (${escapeText(event.reason)})`,
      );
    case 'roster':
      return colors.dim(
        `* #${escapeText(event.room)}: ${event.nicks.map((n) => nick(n)).join(' ') || '(nobody)'}`,
      );
    case 'nick':
      return colors.dim(`* ${escapeText(event.old)} is now known as ${escapeText(event.nick)}`);
    case 'error':
      return colors.red(`error ${escapeText(event.code)}: ${escapeText(event.message)}`);
    case 'welcome':
    case 'ping':
    case 'pong':
      return undefined;
  }
}

async function runJson(client: ChatClient, out: Output): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new SockitError('BAD_REQUEST', 'not a JSON line');
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new SockitError(
          'BAD_REQUEST',
          'expected a JSON object such as {"type":"say","text":"hi"}',
        );
      }
      client.send(parseChatRequest(value as Record<string, unknown>));
    } catch (err) {
      if (!(err instanceof SockitError) || err.code === 'CONNECTION_CLOSED') throw err;
      out.emit({ type: 'error', code: err.code, message: err.message, local: true }, '');
    }
  }
}

async function runInteractive(
  client: ChatClient,
  rl: Interface,
  print: (line: string) => void,
  colors: Colors,
  state: { room: string | undefined; quitting: boolean },
): Promise<void> {
  const setPrompt = (): void => {
    rl.setPrompt(`${colors.dim(`[#${state.room ?? '-'}]`)} ${escapeText(client.nick)}> `);
  };
  setPrompt();
  rl.prompt();
  const fail = (err: unknown): void => {
    if (err instanceof SockitError)
      print(colors.red(`error ${err.code}: ${escapeText(err.message)}`));
  };
  for await (const line of rl) {
    try {
      const command = parseTextLine(line);
      switch (command.kind) {
        case 'none':
          break;
        case 'say':
          client.say(command.text);
          break;
        case 'nick':
          await client.rename(command.nick);
          break;
        case 'join':
          await client.join(command.room);
          break;
        case 'part':
          client.leave(command.room);
          break;
        case 'msg':
          client.msg(command.to, command.text);
          break;
        case 'who':
          await client.who(command.room);
          break;
        case 'help':
          for (const help of TEXT_HELP) print(colors.dim(help));
          break;
        case 'quit':
          state.quitting = true;
          rl.close();
          break;
      }
    } catch (err) {
      if (err instanceof SockitError && err.code === 'CONNECTION_CLOSED') break;
      fail(err);
    }
    if (state.quitting) break;
    setPrompt();
    rl.prompt(true);
  }
}

async function chat(target: string, options: ChatOptions): Promise<void> {
  const out = new Output(options.json);
  const interactive = !options.json && process.stdin.isTTY && process.stdout.isTTY;
  // `isTTY` is undefined (not false) on a pipe, and createColors(undefined)
  // means "detect", which says yes under CI=true: hand it a real boolean.
  const colors = pc.createColors(interactive ? !process.env.NO_COLOR : false);
  const rl = interactive
    ? createInterface({ input: process.stdin, output: process.stdout, terminal: true })
    : undefined;
  const print = printer(rl);
  const state = { room: undefined as string | undefined, quitting: false };
  let closedWith: SockitError | undefined;
  let client: ChatClient | undefined;
  try {
    client = await ChatClient.connect(parseAddress(target, { port: CHAT_PORT }), {
      connectTimeoutMs: options.timeout,
      timeoutMs: options.timeout,
      ...(await tlsOption(options)),
      onEvent: (event) => {
        if (event.type === 'joined' && event.nick === client?.nick) state.room = event.room;
        if (event.type === 'left' && event.nick === client?.nick && state.room === event.room) {
          state.room = undefined;
        }
        if (options.json) {
          out.emit(event as unknown as Record<string, unknown>, '');
          return;
        }
        const text = describeChatEvent(event, client?.nick ?? '', colors);
        if (text !== undefined) print(text);
      },
      onClose: (error) => {
        closedWith = error;
        rl?.close();
        // Stop waiting for input that can no longer be sent.
        if (!rl) process.stdin.destroy();
        if (!options.json && !state.quitting && interactive) {
          print(colors.dim('* disconnected'));
        }
      },
    });
  } catch (err) {
    rl?.close();
    throw err;
  }
  try {
    await client.join(options.room, options.nick);
    if (options.json) await runJson(client, out);
    else if (rl) await runInteractive(client, rl, print, colors, state);
    else await runPiped(client, print, colors);
  } catch (err) {
    client.destroy();
    rl?.close();
    throw err;
  }
  rl?.close();
  await client.close();
  if (closedWith && !state.quitting) {
    process.exitCode = out.error(closedWith);
    return;
  }
  process.exitCode = EXIT_OK;
}

/** stdin is not a terminal: each line is a command or a message; EOF quits. */
async function runPiped(
  client: ChatClient,
  print: (line: string) => void,
  colors: Colors,
): Promise<void> {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    try {
      const command = parseTextLine(line);
      if (command.kind === 'quit') break;
      if (command.kind === 'say') client.say(command.text);
      else if (command.kind === 'msg') client.msg(command.to, command.text);
      else if (command.kind === 'join') await client.join(command.room);
      else if (command.kind === 'nick') await client.rename(command.nick);
      else if (command.kind === 'who') await client.who(command.room);
      else if (command.kind === 'part') client.leave(command.room);
      else if (command.kind === 'help') for (const help of TEXT_HELP) print(help);
    } catch (err) {
      if (!(err instanceof SockitError) || err.code === 'CONNECTION_CLOSED') throw err;
      print(colors.red(`error ${err.code}: ${escapeText(err.message)}`));
    }
  }
}

export function chatCommand(): Command {
  const command = new Command('chat')
    .summary('join a chat room (interactive, or JSON lines for bots)')
    .description(
      `Connects to a chat server, joins a room and lets you talk.\n` +
        `HOST may be host, host:port, [v6]:port or unix:/path; the port defaults to ${CHAT_PORT}.\n` +
        `Type a line to say it to the room; /help lists the commands (/nick, /join, /part, /msg, /who, /quit).\n` +
        `With --json, stdin is JSON lines ({"type":"say","text":"hi"}, {"type":"msg","to":"bob","text":"…"}, …)\n` +
        `and every event is printed as a JSON line. End of input quits.`,
    )
    .argument('<host>', 'server address')
    .option('--nick <nick>', 'nickname (default: the server gives you guestN)')
    .option('--room <room>', 'room to join', DEFAULT_ROOM)
    .option('--json', 'read requests and print events as JSON lines', false)
    .option(
      '--timeout <duration>',
      'connect timeout and how long a request may wait',
      parseDuration,
      10_000,
    );
  return addTlsClientOptions(command).action(async (target: string, options: ChatOptions) => {
    await chat(target, options);
  });
}
