// The services `sockit serve` can run: each one's default port and how it is
// started from the command line's options. A service is imported when it is
// started, so `sockit serve echo` loads echo alone (a smaller heap, under V8's
// 8 MB marking line: docs/PERFORMANCE.md).
import {
  CHAT_PORT,
  ECHO_PORT,
  EXEC_PORT,
  FILES_PORT,
  RFC868_PORT,
  SNTP_PORT,
  UsageError,
  WEB_PORT,
  parseAddress,
  type Address,
  type Logger,
  type Service,
} from '../../core.js';
import { defaultFilesRoot } from '../../internal.js';
import type { ChatBus, ChatServer } from '../../services/chat/index.js';
import { tlsClientConfig } from '../tls-options.js';
import { derived, tcpLimits, type ServeOptions } from './options.js';
import { serverToken } from './policy.js';

/**
 * Starts a service on `base` (its main address); a service with more ports
 * derives them. `running`: the services started before it (web finds chat there).
 */
type Starter = (
  base: Address,
  options: ServeOptions,
  logger: Logger,
  running: readonly Service[],
) => Promise<Service>;

export interface ServiceEntry {
  defaultPort: number;
  start: Starter;
}

/**
 * The Redis bus when --cluster is set (ioredis is loaded only then); in a
 * --workers worker without it, the IPC bus to the primary's hub; else
 * undefined: one process.
 */
async function clusterBus(options: ServeOptions, logger: Logger): Promise<ChatBus | undefined> {
  if (options.clusterBus !== undefined) {
    const { RedisChatBus } = await import('../../services/chat/index.js');
    return new RedisChatBus({ ...options.clusterBus, logger });
  }
  if (options.ipcBus === true) {
    const { IpcChatBus } = await import('../../services/chat/internal.js');
    return new IpcChatBus({ logger });
  }
  return undefined;
}

/** Every service `sockit serve` runs, with its default port (classic port + 7000). */
export const SERVICES: Readonly<Record<string, ServiceEntry>> = {
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
      const bus = await clusterBus(options, logger);
      const server = new ChatServer({
        framing: options.framing,
        tcp: tcpLimits(options),
        logger,
        ...(bus !== undefined ? { bus } : {}),
      });
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
      let own: ChatServer | undefined;
      let chat: ChatServer | Address;
      if (options.chat !== undefined) chat = parseAddress(options.chat, { port: CHAT_PORT });
      else if (local !== undefined) chat = local;
      else {
        const bus = await clusterBus(options, logger);
        chat = own = new ChatServer({ logger, ...(bus !== undefined ? { bus } : {}) });
      }
      if (
        options.chat === undefined &&
        (options.chatFingerprint !== undefined || options.chatCa !== undefined)
      ) {
        throw new UsageError(
          'BAD_OPTION',
          '--chat-fingerprint and --chat-ca need --chat HOST:PORT',
        );
      }
      // TLS to a remote broker (one started with serve --tls), pinned or by CA.
      const chatTls = await tlsClientConfig({
        ...(options.chatFingerprint !== undefined ? { fingerprint: options.chatFingerprint } : {}),
        ...(options.chatCa !== undefined ? { ca: options.chatCa } : {}),
      });
      const gateway = new WebGateway({
        chat,
        ...(chatTls !== undefined ? { chatTls } : {}),
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

export const SERVICE_NAMES = Object.keys(SERVICES);
