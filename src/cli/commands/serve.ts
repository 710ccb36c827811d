import { Command, Option } from 'commander';
// sockit/core, and the option parsers of sockit/echo and sockit/web: every other
// service is imported when `serve` starts it, so `sockit serve echo` loads echo
// alone (a smaller heap, under V8's 8 MB marking line: docs/PERFORMANCE.md).
import {
  CHAT_PORT,
  ECHO_PORT,
  EXEC_PORT,
  FILES_PORT,
  defaultFilesRoot,
  RFC868_PORT,
  SNTP_PORT,
  FRAMING_MODES,
  UsageError,
  createLogger,
  ensureServerIdentity,
  ensureToken,
  isLoopbackHost,
  parseAddress,
  type Address,
  type FramingMode,
  type Logger,
  type TlsServerConfig,
  WEB_PORT,
} from '../../core.js';
import { REPLY_MODES, type ReplyMode } from '../../services/echo/index.js';
import type { ChatServer } from '../../services/chat/index.js';
import { parseAllowedOrigin, parseBridge, type BridgeRoute } from '../../services/web/index.js';
import { integerIn, parseBytes, parseDuration } from '../options.js';
import { EXIT_OK } from '../output.js';

interface ServeOptions {
  host: string;
  port?: number;
  listen?: string;
  framing: FramingMode;
  reply: ReplyMode;
  maxConnections?: number;
  idleTimeout?: number;
  frameTimeout?: number;
  maxFrame?: number;
  udp: boolean;
  sntpPort?: number;
  logLevel: string;
  tokenFile?: string;
  tls: boolean;
  cert?: string;
  key?: string;
  insecurePlaintext: boolean;
  /** Filled in by serve() when --tls is on. */
  tlsServer?: TlsServerConfig;
  root?: string;
  allowOverwrite: boolean;
  maxFileSize?: number;
  maxTotal?: number;
  insecureNoAuth: boolean;
  allowShell: boolean;
  allow?: string[];
  maxCommands?: number;
  commandTimeout?: number;
  maxOutput?: number;
  chat?: string;
  bridge?: BridgeRoute[];
  allowOrigin?: string[];
  allowNoOrigin: boolean;
}

interface RunningService {
  readonly name: string;
  readonly addresses: string[];
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a service on `base` (its main address); a service with more ports
 * derives them. `running`: the services started before it (web finds chat there).
 */
type Starter = (
  base: Address,
  options: ServeOptions,
  logger: Logger,
  running: readonly RunningService[],
) => Promise<RunningService>;

interface ServiceEntry {
  defaultPort: number;
  start: Starter;
}

/** Another port of the same service: `base` + offset, or 0 when the base is 0 (any free port). */
function derived(base: Address & { kind: 'inet' }, offset: number): Address {
  return { kind: 'inet', host: base.host, port: base.port === 0 ? 0 : base.port + offset };
}

/** What every TCP listener gets: the connection limits, and TLS when --tls is on. */
function tcpLimits(options: ServeOptions): {
  maxConnections?: number;
  idleTimeoutMs?: number;
  messageTimeoutMs?: number;
  tls?: TlsServerConfig;
} {
  return {
    ...(options.tlsServer !== undefined ? { tls: options.tlsServer } : {}),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.idleTimeout !== undefined ? { idleTimeoutMs: options.idleTimeout } : {}),
    ...(options.frameTimeout !== undefined ? { messageTimeoutMs: options.frameTimeout } : {}),
  };
}

/** Every service `sockit serve` runs, with its default port (classic port + 7000). */
const SERVICES: Readonly<Record<string, ServiceEntry>> = {
  echo: {
    defaultPort: ECHO_PORT,
    start: async (base, options, logger) => {
      const { EchoServer } = await import('../../services/echo/index.js');
      const server = new EchoServer({
        framing: options.framing,
        reply: options.reply,
        ...(options.maxFrame !== undefined ? { maxFrame: options.maxFrame } : {}),
        tcp: tcpLimits(options),
        logger,
      });
      // UDP shares the TCP port number; a Unix-socket listener has no UDP side.
      await server.listen(
        base.kind === 'inet' && options.udp ? { tcp: base, udp: base } : { tcp: base },
      );
      return server;
    },
  },
  exec: {
    defaultPort: EXEC_PORT,
    start: async (base, options, logger) => {
      const { ExecServer } = await import('../../services/exec/index.js');
      const server = new ExecServer({
        token: await serverToken(options, logger),
        allowShell: options.allowShell,
        ...(options.allow !== undefined ? { allow: options.allow } : {}),
        ...(options.maxCommands !== undefined ? { maxCommands: options.maxCommands } : {}),
        ...(options.commandTimeout !== undefined
          ? { commandTimeoutMs: options.commandTimeout }
          : {}),
        ...(options.maxOutput !== undefined ? { maxOutput: options.maxOutput } : {}),
        tcp: tcpLimits(options),
        logger,
      });
      await server.listen(base);
      return server;
    },
  },
  files: {
    defaultPort: FILES_PORT,
    start: async (base, options, logger) => {
      if (options.framing === 'raw') {
        throw new UsageError('BAD_OPTION', 'files speaks envelopes: --framing u32be or u32le');
      }
      const { FilesServer } = await import('../../services/files/index.js');
      const server = new FilesServer({
        root: options.root ?? defaultFilesRoot(),
        // --insecure-no-auth: no token at all; FilesServer refuses it off loopback.
        token: options.insecureNoAuth ? undefined : await serverToken(options, logger),
        allowOverwrite: options.allowOverwrite,
        byteOrder: options.framing === 'u32le' ? 'u32le' : 'u32be',
        ...(options.maxFileSize !== undefined ? { maxFileSize: options.maxFileSize } : {}),
        ...(options.maxTotal !== undefined ? { maxTotal: options.maxTotal } : {}),
        tcp: tcpLimits(options),
        logger,
      });
      await server.listen(base);
      return server;
    },
  },
  time: {
    defaultPort: RFC868_PORT,
    start: async (base, options, logger) => {
      const { TimeServer } = await import('../../services/time/index.js');
      const server = new TimeServer({ tcp: tcpLimits(options), logger });
      if (base.kind === 'unix') {
        await server.listen({ rfc868Tcp: base }); // the UDP formats need an IP port
        return server;
      }
      // RFC 868 on TCP and UDP at the base port; unix32 +1, strftime +2, SNTP +86 (7037 → 7123).
      const sntpPort = options.sntpPort;
      await server.listen({
        rfc868Tcp: base,
        ...(options.udp
          ? {
              rfc868Udp: base,
              unix32: derived(base, 1),
              strftime: derived(base, 2),
              sntp:
                sntpPort !== undefined
                  ? { kind: 'inet', host: base.host, port: sntpPort }
                  : derived(base, SNTP_PORT - RFC868_PORT),
            }
          : {}),
      });
      return server;
    },
  },
  chat: {
    defaultPort: CHAT_PORT,
    start: async (base, options, logger) => {
      // Envelopes and nc users on one port (auto); the messenger is a peer, not a
      // served service: run `sockit msg` (docs/CHAT.md).
      const { ChatServer } = await import('../../services/chat/index.js');
      const server = new ChatServer({ framing: options.framing, tcp: tcpLimits(options), logger });
      await server.listen(base);
      return server;
    },
  },
  web: {
    defaultPort: WEB_PORT,
    start: async (base, options, logger, running) => {
      // The rooms of the chat service in this process; with --chat, a broker elsewhere;
      // alone, a broker of its own that only browsers reach.
      const [{ ChatServer }, { WebGateway }] = await Promise.all([
        import('../../services/chat/index.js'),
        import('../../services/web/index.js'),
      ]);
      const local = running.find((s): s is ChatServer => s instanceof ChatServer);
      const own =
        options.chat === undefined && local === undefined ? new ChatServer({ logger }) : undefined;
      const chat =
        options.chat !== undefined
          ? parseAddress(options.chat, { port: CHAT_PORT })
          : (local ?? own);
      const gateway = new WebGateway({
        chat,
        bridges: options.bridge ?? [],
        allowOrigins: options.allowOrigin ?? [],
        allowNoOrigin: options.allowNoOrigin,
        ...(options.tlsServer !== undefined ? { tls: options.tlsServer } : {}),
        ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
        ...(options.maxFrame !== undefined ? { maxFrame: options.maxFrame } : {}),
        logger,
      });
      await gateway.listen(base);
      if (base.kind === 'inet') logger.info({ event: 'page', url: gateway.url });
      if (own === undefined) return gateway;
      return {
        name: gateway.name,
        addresses: gateway.addresses,
        close: async (graceMs) => {
          await gateway.close(graceMs);
          await own.close(graceMs);
        },
      };
    },
  },
};

/**
 * The token of exec and files: --token-file, SOCKIT_TOKEN, or the file in the
 * config directory, created on first use. Logged by where it is, never by value.
 */
async function serverToken(options: ServeOptions, logger: Logger): Promise<string> {
  const found = await ensureToken(
    options.tokenFile !== undefined ? { file: options.tokenFile } : {},
  );
  logger.info({ event: 'token', origin: found.origin, created: found.created });
  return found.token;
}

const SERVICE_NAMES = Object.keys(SERVICES);

function baseAddress(entry: ServiceEntry, options: ServeOptions, single: boolean): Address {
  if (options.listen === undefined && options.port === undefined) {
    return { kind: 'inet', host: options.host, port: entry.defaultPort };
  }
  if (!single) {
    throw new UsageError(
      'BAD_OPTION',
      '--port and --listen need exactly one service, e.g. "sockit serve echo --port 9000"',
    );
  }
  return options.listen !== undefined
    ? parseAddress(options.listen, { port: entry.defaultPort, host: options.host })
    : { kind: 'inet', host: options.host, port: options.port ?? entry.defaultPort };
}

async function serve(names: string[], options: ServeOptions): Promise<void> {
  const chosen = names.length > 0 ? names : SERVICE_NAMES;
  for (const name of chosen) {
    if (!(name in SERVICES)) {
      throw new UsageError(
        'BAD_OPTION',
        `unknown service "${name}" (available: ${SERVICE_NAMES.join(', ')})`,
      );
    }
  }
  const logger = createLogger({ level: options.logLevel });
  // exec and files carry commands and files: across a network, only inside TLS.
  if (!options.tls && !options.insecurePlaintext && !isLoopbackHost(options.host)) {
    const exposed = chosen.filter((n) => n === 'exec' || n === 'files');
    if (exposed.length > 0) {
      throw new UsageError(
        'TLS_REQUIRED',
        `${exposed.join(' and ')} on ${options.host} would send commands and files in clear: add --tls (or --insecure-plaintext)`,
      );
    }
  }
  if (options.tls) {
    const identity = await ensureServerIdentity({
      ...(options.cert !== undefined ? { cert: options.cert } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    options.tlsServer = { cert: identity.cert, key: identity.key };
    logger.info({
      event: 'tls',
      fingerprint: identity.fingerprint,
      origin: identity.origin,
      created: identity.created,
    });
  } else if (options.cert !== undefined || options.key !== undefined) {
    throw new UsageError('BAD_OPTION', '--cert and --key need --tls');
  }
  const running: RunningService[] = [];
  const stopAll = (): Promise<unknown> => Promise.all(running.map((s) => s.close()));
  try {
    for (const name of chosen) {
      const entry = SERVICES[name] as ServiceEntry;
      running.push(
        await entry.start(
          baseAddress(entry, options, chosen.length === 1),
          options,
          logger,
          running,
        ),
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ event: 'forced_exit', signal });
        process.exit(130);
      }
      stopping = true;
      logger.info({ event: 'shutdown', signal });
      void stopAll().then(() => {
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Only now: a supervisor may signal us as soon as it reads `ready`.
    logger.info({
      event: 'ready',
      services: running.map((s) => ({ name: s.name, addresses: s.addresses })),
    });
  });
  process.exitCode = EXIT_OK;
}

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
