// What `sockit serve` was asked for, and how each service's addresses and
// connection limits follow from it.
import {
  UsageError,
  parseAddress,
  type Address,
  type FramingMode,
  type TlsServerConfig,
} from '../../core.js';
import type { ReplyMode } from '../../services/echo/index.js';
import type { BridgeRoute } from '../../services/web/index.js';

/** The parsed command line (commander's names for the flags). */
export interface ServeOptions {
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
  chatFingerprint?: string;
  chatCa?: string;
  bridge?: BridgeRoute[];
  allowOrigin?: string[];
  allowNoOrigin: boolean;
  cluster?: string;
  clusterPasswordFile?: string;
  /** Filled in by serve() from --cluster or SOCKIT_CLUSTER. */
  clusterBus?: { url: string; password?: string };
  /** --workers: processes serving the TCP services (1: this one alone). */
  workers: number;
  /** Set in a --workers worker without --cluster: chat goes through the primary's hub. */
  ipcBus?: boolean;
}

/** Another port of the same service: `base` + offset, or 0 when the base is 0 (any free port). */
export function derived(base: Address & { kind: 'inet' }, offset: number): Address {
  return { kind: 'inet', host: base.host, port: base.port === 0 ? 0 : base.port + offset };
}

/** What every TCP listener gets: the connection limits, and TLS when --tls is on. */
export function tcpLimits(options: ServeOptions): {
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

/**
 * A service's main address: its default port on --host, or --port/--listen,
 * which only make sense when one service is named.
 */
export function baseAddress(defaultPort: number, options: ServeOptions, single: boolean): Address {
  if (options.listen === undefined && options.port === undefined) {
    return { kind: 'inet', host: options.host, port: defaultPort };
  }
  if (!single) {
    throw new UsageError(
      'BAD_OPTION',
      '--port and --listen need exactly one service, e.g. "sockit serve echo --port 9000"',
    );
  }
  return options.listen !== undefined
    ? parseAddress(options.listen, { port: defaultPort, host: options.host })
    : { kind: 'inet', host: options.host, port: options.port ?? defaultPort };
}
