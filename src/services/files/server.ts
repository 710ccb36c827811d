import { UsageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { encodeEnvelopeHeader, errorHeader } from '../../protocol/envelope.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { formatAddress, isLoopbackHost, type Address } from '../../transport/address.js';
import type { Connection } from '../../transport/connection.js';
import { EnvelopeChannel } from '../../transport/envelope-channel.js';
import { TcpServer, type TcpServerOptions } from '../../transport/tcp-server.js';
import { AuthFailures, startAuthenticated } from '../common/handshake.js';
import { tutorialNormalizer } from './messages.js';
import { FilesSession } from './session.js';
import { FileStore } from './store.js';
import type { Service } from '../common/service.js';

/** Options of {@link FilesServer}: the root, the token, size and total bounds, overwrite policy. */
export interface FilesServerOptions {
  /** The storage root (SPEC §2.4); created with mode 0700 on first use. */
  root: string;
  /**
   * The shared secret clients must prove (SPEC §2.3). Undefined serves
   * without authentication, which `listen` refuses on anything but loopback.
   */
  token: string | undefined;
  /** Let `"overwrite":true` replace existing files. @default false */
  allowOverwrite?: boolean;
  /** Largest file accepted, in bytes. @default unlimited (2^53 − 1) */
  maxFileSize?: number;
  /** Bytes all stored and partial files may use together. @default unlimited */
  maxTotal?: number;
  /** Frame length byte order; u32le takes the tutorial's struct.pack("i", n). @default 'u32be' */
  byteOrder?: ByteOrder;
  /** How long a client has to authenticate (ms). @default 10 000 */
  authTimeoutMs?: number;
  /** TCP limits. The message deadline is off by default: a body may take hours. */
  tcp?: Omit<TcpServerOptions, 'logger' | 'name' | 'busyNotice'>;
  logger?: Logger;
}

/** Loopback (or a Unix socket) only: the one place where serving without a token is allowed. */
export function isLoopback(address: Address): boolean {
  return address.kind === 'unix' || isLoopbackHost(address.host);
}

/**
 * The files service (SPEC §2.4): `put`, `get`, `stat` and `list` of files
 * under one root, after the hello/auth handshake. Bodies stream to a
 * partial file, hashed as they come, fsynced, verified and renamed into
 * place; a broken upload's partial can be resumed. See docs/FILES.md.
 * @example
 * ```ts
 * import { FilesServer, ensureToken } from 'sockit';
 *
 * // Names are confined to the root; uploads are verified, fsynced and renamed into place.
 * const { token } = await ensureToken();
 * const server = new FilesServer({ root: '/srv/sockit-files', token });
 * await server.listen({ kind: 'inet', host: '127.0.0.1', port: 7021 });
 * ```
 */
export class FilesServer implements Service {
  readonly name = 'files';
  private readonly options: FilesServerOptions;
  private readonly tcp: TcpServer;
  private readonly log: Logger;
  private readonly failures = new AuthFailures();
  private readonly byteOrder: ByteOrder;
  private store: FileStore | undefined;
  private bound: Address | undefined;
  private readonly sessions = new Set<FilesSession>();

  constructor(options: FilesServerOptions) {
    this.options = options;
    this.byteOrder = options.byteOrder ?? 'u32be';
    this.log = (options.logger ?? silentLogger).child({ service: 'files' });
    const byteOrder = this.byteOrder;
    this.tcp = new TcpServer(
      (conn) => {
        this.serve(conn);
      },
      {
        messageTimeoutMs: 0,
        ...options.tcp,
        name: 'files',
        logger: options.logger ?? silentLogger,
        busyNotice: (error) =>
          encodeEnvelopeHeader(errorHeader(error.code, error.message), { byteOrder }),
      },
    );
  }

  async listen(address: Address): Promise<Address> {
    if (this.options.token === undefined && !isLoopback(address)) {
      throw new UsageError(
        'BAD_OPTION',
        `--insecure-no-auth is refused on ${formatAddress(address)}: serve without a token on loopback only`,
      );
    }
    this.store = await FileStore.open({
      root: this.options.root,
      logger: this.log,
      ...(this.options.allowOverwrite !== undefined
        ? { allowOverwrite: this.options.allowOverwrite }
        : {}),
      ...(this.options.maxFileSize !== undefined ? { maxFileSize: this.options.maxFileSize } : {}),
      ...(this.options.maxTotal !== undefined ? { maxTotal: this.options.maxTotal } : {}),
    });
    this.bound = await this.tcp.listen(address);
    this.log.info({
      event: 'files_ready',
      auth: this.options.token === undefined ? 'none' : 'hmac-sha256',
      allowOverwrite: this.store.allowOverwrite,
    });
    return this.bound;
  }

  get addresses(): string[] {
    return this.bound ? [`tcp ${formatAddress(this.bound)}`] : [];
  }

  get connections(): number {
    return this.tcp.connections;
  }

  async close(graceMs?: number): Promise<void> {
    await this.tcp.close(graceMs);
    // Uploads cut by the shutdown keep their partial files.
    await Promise.all([...this.sessions].map((s) => s.settled()));
  }

  private serve(conn: Connection): void {
    const store = this.store;
    if (!store) {
      conn.destroy();
      return;
    }
    const channel = new EnvelopeChannel(conn, {
      byteOrder: this.byteOrder,
      normalize: tutorialNormalizer,
    });
    const session = new FilesSession(channel, store, this.log);
    this.sessions.add(session);
    conn.onClosed(() => {
      void session.settled().then(() => this.sessions.delete(session));
    });
    const host = conn.remoteHost;
    startAuthenticated(
      channel,
      {
        service: 'files',
        token: this.options.token,
        failures: this.failures,
        host,
        log: this.log,
        // A tutorial client never reads: in its mode the server must not speak first.
        silent: this.options.token === undefined && this.byteOrder === 'u32le',
        ...(this.options.authTimeoutMs !== undefined
          ? { timeoutMs: this.options.authTimeoutMs }
          : {}),
      },
      session.handlers,
    );
  }
}
