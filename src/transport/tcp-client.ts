import { connect as netConnect, type NetConnectOpts, type Socket } from 'node:net';
import { NetworkError, UsageError, fromSystemError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../limits.js';
import { formatAddress, formatPeer, type Address } from './address.js';
import { CLIENT_CONNECTION_LIMITS, type Connection, type ConnectionLimits } from './connection.js';
import { SocketConnection } from './socket-connection.js';
import { connectTls, type TlsClientConfig } from './tls.js';

/** Options of {@link connect}: timeout, limits, read size, TLS. */
export interface ConnectOptions extends Partial<ConnectionLimits> {
  /** How long the TCP (or Unix) connect may take (ms). @default 10 000 */
  connectTimeoutMs?: number;
  /**
   * Read at most this many bytes per read, like `recv(n)` in C or Python:
   * each read fills one fixed buffer and is copied out. What a reader with a
   * small buffer sees of a large send (docs/RELAY.md). @default Node's 64 KiB
   */
  readSize?: number;
  /** Speak TLS (docs/SECURITY.md): the trust decision is `tls.verify`'s. */
  tls?: TlsClientConfig;
  /**
   * Bytes queued for the peer before `write` returns false (and reading
   * pauses). A relay whose messages are larger than Node's 16 KiB default
   * raises it so that one message does not stall both directions. Plain TCP
   * and unix sockets; TLS keeps Node's default. @default 16 KiB
   */
  writeHighWater?: number;
}

/**
 * Socket options for a fixed read buffer. With `onread` Node emits no 'data'
 * of its own (pause/resume and 'end' still work), so each read is copied out
 * of the buffer and emitted as the 'data' a Connection listens to.
 */
function readOptions(
  readSize: number | undefined,
  socket: () => Socket,
): Pick<NetConnectOpts, 'onread'> {
  if (readSize === undefined) return {};
  return {
    onread: {
      buffer: Buffer.allocUnsafe(readSize),
      callback(bytes: number, buf: Uint8Array): boolean {
        socket().emit('data', Buffer.from(buf.subarray(0, bytes)));
        return true;
      },
    },
  };
}

/**
 * Opens a connection and resolves once it is established. Failures are
 * one-line NetworkErrors: "connect to 127.0.0.1:7007: connection refused",
 * "… host unreachable", "… timed out after 10000 ms".
 * @example
 * ```ts
 * import { FrameDecoder, connect, encodeFrame, parseAddress } from 'sockit';
 *
 * const conn = await connect(parseAddress('127.0.0.1', { port: 7007 }), { connectTimeoutMs: 5_000 });
 * const decoder = new FrameDecoder((payload) => {
 *   console.log(payload.toString());
 *   conn.end();
 * });
 * conn.start({ data: (chunk) => decoder.push(chunk) });
 * conn.writev(encodeFrame(Buffer.from('one message'))); // [header, payload]
 * await conn.whenClosed;
 * ```
 */
export function connect(address: Address, options: ConnectOptions = {}): Promise<Connection> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (options.tls) return connectSecure(address, options.tls, options, timeoutMs);
  const what = `connect to ${formatAddress(address)}`;
  return new Promise((resolve, reject) => {
    const reads = readOptions(options.readSize, () => socket);
    const common = {
      allowHalfOpen: true,
      ...reads,
      ...(options.writeHighWater !== undefined
        ? { writableHighWaterMark: options.writeHighWater }
        : {}),
    };
    const socket: Socket =
      address.kind === 'unix'
        ? netConnect({ path: address.path, ...common })
        : netConnect({ host: address.host, port: address.port, ...common });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetworkError('CONNECT_TIMEOUT', `${what}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(fromSystemError(err, what));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      const remote =
        address.kind === 'unix' ? 'unix' : formatPeer(socket.remoteAddress, socket.remotePort);
      resolve(new SocketConnection(socket, remote, options, CLIENT_CONNECTION_LIMITS));
    });
  });
}

async function connectSecure(
  address: Address,
  tls: TlsClientConfig,
  options: ConnectOptions,
  timeoutMs: number,
): Promise<Connection> {
  if (address.kind === 'unix') {
    throw new UsageError('BAD_OPTION', 'TLS is for TCP addresses, not unix: sockets');
  }
  const target = formatAddress(address);
  let socket;
  try {
    socket = await connectTls(
      { host: address.host, port: address.port, target, timeoutMs, allowHalfOpen: true },
      tls,
    );
  } catch (err) {
    // Refused, unreachable… before any TLS: the usual one-line network errors.
    const errno = (err as { cause?: { code?: string } }).cause?.code;
    if (
      errno !== undefined &&
      errno !== 'ECONNRESET' &&
      errno !== 'EPIPE' &&
      !errno.startsWith('ERR_SSL')
    ) {
      throw fromSystemError((err as { cause: unknown }).cause, `connect to ${target}`);
    }
    throw err;
  }
  return new SocketConnection(
    socket,
    formatPeer(socket.remoteAddress, socket.remotePort),
    options,
    CLIENT_CONNECTION_LIMITS,
  );
}
