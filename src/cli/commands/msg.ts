import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import pc from 'picocolors';
import {
  MESSENGER_PORT,
  MessengerPeer,
  SockitError,
  UsageError,
  escapeText,
  type IncomingMessage,
  type UdpPeer,
} from '../../index.js';
import {
  describeSender,
  parseContact,
  parseContacts,
  peerKey,
} from '../../services/messenger/internal.js';
import { integerIn } from '../options.js';
import { EXIT_FAILURE, EXIT_OK, Output } from '../output.js';
import { printer } from '../terminal.js';

interface MsgOptions {
  host: string;
  port?: number;
  name?: string;
  contacts?: string;
  contact: string[];
  attempts: number;
  json: boolean;
}

const HELP = [
  'NAME: TEXT        send TEXT to the contact NAME',
  '/to TARGET        send the lines that follow to TARGET (a contact or host:port)',
  '/msg TARGET TEXT  send one message',
  '/contacts         list contacts',
  '/quit             leave (also end of input)',
  'every other line goes to the current target (at first: whoever wrote to you last)',
];

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function loadContacts(options: MsgOptions): Promise<Map<string, UdpPeer>> {
  const contacts = new Map<string, UdpPeer>();
  if (options.contacts !== undefined) {
    let text: string;
    try {
      text = await readFile(options.contacts, 'utf8');
    } catch (err) {
      throw new UsageError('BAD_OPTION', `cannot read contacts file ${options.contacts}`, {
        cause: err,
      });
    }
    for (const [name, peer] of parseContacts(text)) contacts.set(name, peer);
  }
  for (const flag of options.contact) {
    const [name, peer] = parseContact(flag);
    contacts.set(name, peer);
  }
  return contacts;
}

/** A messenger peer reading what to send from stdin and printing what arrives. */
class Session {
  target: string | undefined;
  failures = 0;
  private readonly plainPeers = new Set<string>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly peer: MessengerPeer,
    private readonly out: Output,
    private readonly print: (line: string) => void,
    private readonly colors: ReturnType<typeof pc.createColors>,
  ) {}

  incoming(message: IncomingMessage): void {
    const sender = message.contact ?? peerKey(message.peer);
    if (message.kind === 'plain') this.plainPeers.add(peerKey(message.peer));
    this.target ??= sender;
    this.emit(
      {
        type: 'message',
        id: message.id,
        from: message.from,
        contact: message.contact,
        peer: peerKey(message.peer),
        plain: message.kind === 'plain',
        text: message.text,
      },
      `${this.colors.cyan(escapeText(describeSender(message)))}: ${escapeText(message.text)}`,
    );
  }

  /** Sends one message; the delivery (or not) is reported when it is known. */
  send(target: string, text: string): void {
    const task = this.deliver(target, text).finally(() => {
      this.pending.delete(task);
    });
    this.pending.add(task);
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  line(line: string): boolean {
    if (line.trim() === '') return true;
    const to = /^\/to\s+(\S+)\s*$/.exec(line);
    const msg = /^\/msg\s+(\S+)\s+(.+)$/s.exec(line);
    const named = /^([A-Za-z0-9_.-]{1,32}):\s?(.+)$/s.exec(line);
    if (to) {
      this.target = this.peer.resolve(to[1] as string).name;
    } else if (msg) {
      this.send(msg[1] as string, msg[2] as string);
    } else if (line.trim() === '/contacts') {
      for (const [name, peer] of this.peer.contacts) this.print(`${name} ${peerKey(peer)}`);
    } else if (line.trim() === '/help') {
      for (const help of HELP) this.print(this.colors.dim(help));
    } else if (line.trim() === '/quit') {
      return false;
    } else if (line.startsWith('/') && !line.startsWith('//')) {
      throw new SockitError(
        'BAD_REQUEST',
        `unknown command ${line.split(/\s/)[0] ?? ''} (try /help)`,
      );
    } else if (named && this.peer.contacts.has(named[1] as string)) {
      this.send(named[1] as string, named[2] as string);
    } else if (this.target === undefined) {
      throw new SockitError('BAD_REQUEST', 'no one to send to: "NAME: text", or /to NAME first');
    } else {
      this.send(this.target, line.startsWith('//') ? line.slice(1) : line);
    }
    return true;
  }

  private async deliver(target: string, text: string): Promise<void> {
    try {
      const { name, peer } = this.peer.resolve(target);
      if (this.plainPeers.has(peerKey(peer))) {
        await this.peer.sendPlain(peer, text);
        this.emit(
          { type: 'sent', to: name, plain: true },
          this.colors.dim(`sent to ${name} (plain)`),
        );
        return;
      }
      const d = await this.peer.send(target, text);
      this.emit(
        { type: 'delivered', id: d.id, to: d.to, attempts: d.attempts, rttMs: d.rttMs },
        this.colors.dim(
          `delivered to ${escapeText(d.to)} (${d.attempts} ${d.attempts === 1 ? 'send' : 'sends'}, ${d.rttMs} ms)`,
        ),
      );
    } catch (err) {
      if (!(err instanceof SockitError)) throw err;
      this.failures++;
      this.emit(
        { type: 'undelivered', to: target, code: err.code, message: err.message },
        this.colors.red(`not delivered: ${escapeText(err.message)} (${err.code})`),
      );
    }
  }

  emit(event: Record<string, unknown>, human: string): void {
    if (this.out.json) this.out.emit(event, '');
    else this.print(human);
  }
}

async function msg(
  target: string | undefined,
  words: string[],
  options: MsgOptions,
): Promise<void> {
  const out = new Output(options.json);
  const contacts = await loadContacts(options);
  const oneShot = target !== undefined && words.length > 0;
  const port = options.port ?? (oneShot ? 0 : MESSENGER_PORT);
  const interactive = !oneShot && !options.json && process.stdin.isTTY && process.stdout.isTTY;
  // `isTTY` is undefined (not false) on a pipe, and createColors(undefined)
  // means "detect", which says yes under CI=true: hand it a real boolean.
  const colors = pc.createColors(interactive ? !process.env.NO_COLOR : false);
  const peer = await MessengerPeer.bind(
    { kind: 'inet', host: options.host, port },
    {
      contacts,
      retry: { attempts: options.attempts },
      ...(options.name !== undefined ? { name: options.name } : {}),
    },
  );
  const rl = interactive
    ? createInterface({ input: process.stdin, output: process.stdout, terminal: true })
    : undefined;
  const session = new Session(peer, out, printer(rl), colors);
  peer.setOnMessage((m) => {
    session.incoming(m);
  });
  try {
    if (oneShot) {
      session.send(target, words.join(' '));
      await session.settled();
    } else {
      if (target !== undefined) session.target = peer.resolve(target).name;
      session.emit(
        { type: 'listening', address: peerKey({ host: options.host, port: portOf(peer) }) },
        colors.dim(
          `listening on udp ${peerKey({ host: options.host, port: portOf(peer) })}; /help for commands`,
        ),
      );
      rl?.setPrompt('> ');
      rl?.prompt();
      const lines = rl ?? createInterface({ input: process.stdin, crlfDelay: Infinity });
      for await (const raw of lines) {
        let line = raw;
        try {
          if (options.json) line = jsonLine(raw, session);
          if (line !== '' && !session.line(line)) break;
        } catch (err) {
          if (!(err instanceof SockitError)) throw err;
          session.emit(
            { type: 'error', code: err.code, message: err.message },
            colors.red(`error ${err.code}: ${escapeText(err.message)}`),
          );
        }
        rl?.prompt(true);
      }
      rl?.close();
      await session.settled();
    }
  } finally {
    rl?.close();
    await peer.close();
  }
  process.exitCode = session.failures > 0 ? EXIT_FAILURE : EXIT_OK;
}

/** `{"to":"bob","text":"hi"}` → a `/msg` line. */
function jsonLine(raw: string, session: Session): string {
  if (raw.trim() === '') return '';
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new SockitError('BAD_REQUEST', 'not a JSON line');
  }
  const v = value as { to?: unknown; text?: unknown };
  if (typeof v.text !== 'string' || (v.to !== undefined && typeof v.to !== 'string')) {
    throw new SockitError('BAD_REQUEST', 'expected {"to":"NAME or host:port","text":"…"}');
  }
  const to = v.to ?? session.target;
  if (to === undefined) throw new SockitError('BAD_REQUEST', 'no "to", and nobody has written yet');
  session.send(to, v.text);
  return '';
}

function portOf(peer: MessengerPeer): number {
  const local = peer.local;
  return local.kind === 'inet' ? local.port : 0;
}

export function msgCommand(): Command {
  return new Command('msg')
    .summary('UDP messenger: send and receive acknowledged messages')
    .description(
      `A messenger peer (UDP, default port ${MESSENGER_PORT}). Messages are JSON datagrams with ids:\n` +
        `the receiver acks, the sender retransmits with backoff until acked, duplicates are dropped.\n` +
        `  sockit msg TARGET TEXT…   send one message, wait for the ack, exit (1 if undelivered)\n` +
        `  sockit msg [TARGET]       stay up: print what arrives, send what you type\n` +
        `TARGET is a contact name or host:port. Typed lines: "NAME: text", /to TARGET, /msg TARGET TEXT,\n` +
        `/contacts, /help, /quit; other lines go to the current target. A plain UTF-8 datagram (a\n` +
        `tutorial UDP client) is shown as from its address, and answers to it go back as plain text.\n` +
        `With --json, stdin is {"to":"bob","text":"hi"} lines and events are JSON lines.`,
    )
    .argument('[target]', 'contact name or host:port')
    .argument('[text...]', 'message to send (one-shot)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option(
      '-p, --port <port>',
      `UDP port to bind (default ${MESSENGER_PORT}; one-shot: a free port the OS picks)`,
      integerIn(0, 65535),
    )
    .option('--name <name>', 'the name to send as "from"')
    .option('--contacts <file>', 'contacts file: {"bob": "127.0.0.1:7196", …}')
    .option('--contact <name=host:port>', 'a contact (repeatable)', collect, [])
    .option(
      '--attempts <n>',
      'sends before a message is given up (UNDELIVERED)',
      integerIn(1, 100),
      8,
    )
    .option('--json', 'JSON lines in and out', false)
    .action(async (target: string | undefined, text: string[], options: MsgOptions) => {
      await msg(target, text, options);
    });
}
