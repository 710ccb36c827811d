import { Command, Option } from 'commander';
import { FRAMING_MODES } from '../../core.js';
import { REPLY_MODES } from '../../services/echo/index.js';
import { type BridgeRoute } from '../../services/web/index.js';
import { parseAllowedOrigin, parseBridge } from '../../services/web/internal.js';
import { integerIn, parseBytes, parseDuration } from '../options.js';
import { MAX_WORKERS } from '../serve/limits.js';
import type { ServeOptions } from '../serve/options.js';
import { serve } from '../serve/run.js';
import { SERVICES, SERVICE_NAMES, type ServiceEntry } from '../serve/services.js';

export function serveCommand(): Command {
  return new Command('serve')
    .summary('run sockit services (all of them by default)')
    .description(
      `Runs the named services, or all of them, on loopback by default.\n` +
        `Services and default ports: ${SERVICE_NAMES.map((n) => `${n} ${(SERVICES[n] as ServiceEntry).defaultPort}`).join(', ')}.\n` +
        `Logs one JSON line per connection event on stdout. SIGINT/SIGTERM shut down gracefully.`,
    )
    .argument('[service...]', `services to run (${SERVICE_NAMES.join(', ')})`)
    .option(
      '--host <host>',
      'interface to bind; anything but loopback is an explicit choice',
      '127.0.0.1',
    )
    .option(
      '-p, --port <port>',
      'port (one service only). UDP uses the same number; time puts unix32 at +1, strftime at +2, SNTP at +86; 0 gives each a free port',
      integerIn(0, 65535),
    )
    .option(
      '--listen <address>',
      'address to bind (one service only): host:port, [v6]:port or unix:/path',
    )
    .addOption(
      new Option('--framing <mode>', 'TCP framing: auto (by first byte), raw, u32be, u32le')
        .choices(FRAMING_MODES)
        .default('auto'),
    )
    .addOption(
      new Option('--reply <mode>', 'echo: answer upper-cased, echoed, or "Hello, <msg>!"')
        .choices(REPLY_MODES)
        .default('upper'),
    )
    .option(
      '--max-connections <n>',
      'concurrent TCP connections per service (default 10000)',
      integerIn(1, 1_000_000),
    )
    .option(
      '--idle-timeout <duration>',
      'close connections idle this long (default 2m)',
      parseDuration,
    )
    .option(
      '--frame-timeout <duration>',
      'a started frame must complete within this (default 30s)',
      parseDuration,
    )
    .option('--max-frame <bytes>', 'largest frame accepted (default 16m)', parseBytes)
    .option('--no-udp', 'serve TCP only')
    .option(
      '--sntp-port <port>',
      'time: the SNTP port (default: the base port + 86, i.e. 7123)',
      integerIn(0, 65535),
    )
    .option(
      '--token-file <file>',
      'exec, files: the shared token (default: SOCKIT_TOKEN, else the token file in the config directory, created on first use)',
    )
    .option(
      '--tls',
      'serve TLS on every TCP listener (without --cert/--key: a self-signed certificate made once in the config directory; its fingerprint is logged)',
      false,
    )
    .option('--cert <file>', 'TLS certificate chain (PEM)')
    .option('--key <file>', 'TLS private key (PEM)')
    .option(
      '--insecure-plaintext',
      'allow exec and files on a non-loopback --host without --tls',
      false,
    )
    .option('--allow-shell', 'exec: accept "shell" requests (run by /bin/sh -c)', false)
    .option(
      '--allow <commands>',
      'exec: the only commands argv[0] may name, comma-separated (names are looked up on PATH at start)',
      (value: string) =>
        value
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
    )
    .option(
      '--max-commands <n>',
      'exec: commands running at once; the next gets BUSY (default 16)',
      integerIn(1, 10_000),
    )
    .option(
      '--command-timeout <duration>',
      'exec: a command is killed (with its process group) after this; also the most a request may ask (default 10m)',
      parseDuration,
    )
    .option(
      '--max-output <bytes>',
      'exec: stdout + stderr per command before it is killed (default: no cap)',
      parseBytes,
    )
    .option(
      '--root <dir>',
      'files: the storage root (default: sockit-files in the user data directory, created 0700)',
    )
    .option(
      '--chat <address>',
      'web: the chat broker behind /ws, HOST:PORT (default: the chat service in this process, or one of its own)',
    )
    .option(
      '--chat-fingerprint <sha256>',
      'web: reach the --chat broker over TLS, accepting exactly the certificate with this SHA-256 fingerprint (as its serve --tls logs it)',
    )
    .option(
      '--chat-ca <file>',
      'web: reach the --chat broker over TLS, trusting the CA certificates in this PEM file',
    )
    .option(
      '--bridge <path=address>',
      'web: map a WebSocket path to a framed TCP service, e.g. /echo=127.0.0.1:7007 (repeatable; only these are reachable)',
      (value: string, previous: BridgeRoute[] | undefined) => [
        ...(previous ?? []),
        parseBridge(value),
      ],
    )
    .option(
      '--allow-origin <origin>',
      'web: also accept WebSockets from this page origin, e.g. https://chat.example.org (repeatable)',
      (value: string, previous: string[] | undefined) => [
        ...(previous ?? []),
        parseAllowedOrigin(value),
      ],
    )
    .option(
      '--allow-no-origin',
      'web: accept WebSocket handshakes without an Origin header (non-browser clients)',
      false,
    )
    .option(
      '--cluster <url>',
      'chat: share rooms, nicks and rosters with other nodes through Redis, redis://[user:password@]HOST:PORT[/DB] or rediss:// for TLS (default: $SOCKIT_CLUSTER, else this process alone)',
    )
    .option(
      '--cluster-password-file <file>',
      'chat: the Redis password, read from a file (mode 0600) instead of the URL, where ps would show it',
    )
    .option(
      '--workers <n>',
      'processes serving the TCP services on one machine (node:cluster; UDP stays in worker 1; chat shares rooms across them), 1 to 64',
      integerIn(1, MAX_WORKERS),
      1,
    )
    .option('--allow-overwrite', 'files: let a put with "overwrite":true replace a file', false)
    .option(
      '--max-file-size <bytes>',
      'files: largest file accepted (default: no limit)',
      parseBytes,
    )
    .option(
      '--max-total <bytes>',
      'files: bytes all stored and partial files may use (default: no limit)',
      parseBytes,
    )
    .option(
      '--insecure-no-auth',
      'files: serve without a token (tutorial clients); refused unless bound to loopback',
      false,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error', 'silent'])
        .default('info'),
    )
    .action(async (names: string[], options: ServeOptions) => {
      await serve(names, options);
    });
}
