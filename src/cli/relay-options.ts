import { Argument, Option, type Command } from 'commander';
import {
  UsageError,
  parseAddress,
  type Address,
  type ByteOrder,
  type RelayEvent,
  type RelayOptions,
} from '../index.js';
import type { RelayIo } from '../index.js';
import { describeEvent } from '../services/relay/internal.js';
import { integerIn, parseBytes, parseDuration } from './options.js';

/** What commander hands both `connect` and `listen`. */
export interface RelayCliOptions {
  udp: boolean;
  frames?: ByteOrder;
  maxFrame?: number;
  json: boolean;
  sendOnly: boolean;
  recvOnly: boolean;
  linger?: number;
  idleTimeout?: number;
  hex: boolean;
  showReads: boolean;
  verbose: boolean;
}

/** Shown under each command's --help. */
export const RELAY_HELP = `
Data: stdin goes to the peer and the peer's bytes to stdout, unchanged (binary-safe),
with backpressure both ways. --hex, --show-reads and -v write to stderr, so stdout stays
the pure data stream. With --json, stdout carries JSON lines instead: connect/close
events and one {"type":"frame"} (or {"type":"data"}) per frame (or read).

Half-close: stdin EOF sends FIN and the relay goes on printing until the peer closes;
the peer's FIN does not stop stdin from being sent. UDP has no FIN: connect --udp
waits 1s for replies after EOF (see --linger).

Exit codes: 0 ok, 1 network or protocol error, 2 usage error.`;

/** The options `connect` and `listen` share. */
export function addRelayOptions(command: Command): Command {
  return command
    .option('-u, --udp', 'UDP datagrams instead of TCP', false)
    .addOption(
      new Option(
        '--frames <order>',
        'send each stdin line as one length-prefixed frame; print each received frame as one line',
      ).choices(['u32be', 'u32le']),
    )
    .option('--max-frame <bytes>', 'largest frame sent or accepted (default 16m)', parseBytes)
    .option('--json', 'stdout: JSON lines (events, and one per frame or read)', false)
    .option('--send-only', 'only send: what the peer sends is read and dropped', false)
    .option('--recv-only', 'only receive: stdin is never read', false)
    .option(
      '-q, --linger <duration>',
      'after stdin EOF, quit this long later even if the peer has not closed (nc -q; bare number = seconds)',
      parseDuration,
    )
    .option(
      '-i, --idle-timeout <duration>',
      'fail (exit 1) after this long with no traffic either way',
      parseDuration,
    )
    .option('-x, --hex', 'hex dump of both directions on stderr (> sent, < received)', false)
    .option(
      '--show-reads',
      'on stderr, one line per read from the socket: its size and, with --frames, which frames it completed, started or continued',
      false,
    )
    .option('-v, --verbose', 'connection events on stderr', false);
}

/** The port argument of `connect HOST PORT` / `listen HOST PORT`. */
export function portArgument(): Argument {
  return new Argument('[port]', 'port, when ADDRESS has none').argParser(integerIn(0, 65535));
}

/** Marks "no port given" in parseAddress's result: ports are 0–65535. */
const NO_PORT = -1;

/**
 * `host:port`, `[v6]:port`, `:port`, `port`, `unix:/path`, or `host` with a
 * separate `port` argument (ncat's `HOST PORT`). A relay has no default port.
 */
export function relayAddress(text: string, port: number | undefined): Address {
  const address = parseAddress(text, { port: NO_PORT });
  if (address.kind === 'unix') {
    if (port !== undefined) {
      throw new UsageError('BAD_ADDRESS', `a Unix socket address takes no port: ${text}`);
    }
    return address;
  }
  if (port !== undefined) {
    if (address.port !== NO_PORT) {
      throw new UsageError('BAD_ADDRESS', `port given twice: "${text}" and ${port}`);
    }
    return { ...address, port };
  }
  if (address.port === NO_PORT) {
    throw new UsageError(
      'BAD_ADDRESS',
      `"${text}" needs a port: HOST:PORT, [v6]:PORT or HOST PORT`,
    );
  }
  return address;
}

export function relayOptions(cli: RelayCliOptions): RelayOptions {
  return {
    udp: cli.udp,
    frames: cli.frames,
    ...(cli.maxFrame !== undefined ? { maxFrame: cli.maxFrame } : {}),
    json: cli.json,
    sendOnly: cli.sendOnly,
    recvOnly: cli.recvOnly,
    lingerMs: cli.linger,
    ...(cli.idleTimeout !== undefined ? { idleTimeoutMs: cli.idleTimeout } : {}),
    hex: cli.hex,
    showReads: cli.showReads,
  };
}

/**
 * stdin, stdout, and stderr for events: diagnostics (reads, dumps) always,
 * connection events with -v. `several`: prefix diagnostics with the peer.
 */
export function processIo(cli: RelayCliOptions, several: boolean): RelayIo {
  return {
    // Only touched when the relay reads stdin (not with --recv-only).
    get input(): NodeJS.ReadableStream {
      return process.stdin;
    },
    output: process.stdout,
    onEvent: (event: RelayEvent) => {
      const diagnostic = event.type === 'read' || event.type === 'dump';
      if (!diagnostic && !cli.verbose) return;
      const lines = describeEvent(event, several).map((l) => (diagnostic ? l : `sockit: ${l}`));
      process.stderr.write(`${lines.join('\n')}\n`);
    },
  };
}
