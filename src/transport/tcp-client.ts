import { connect as netConnect } from 'node:net';
import { NetworkError, fromSystemError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../limits.js';
import { formatAddress, formatPeer, type Address } from './address.js';
import { CLIENT_CONNECTION_LIMITS, Connection, type ConnectionLimits } from './connection.js';

export interface ConnectOptions extends Partial<ConnectionLimits> {
  /** How long the TCP (or Unix) connect may take (ms). @default 10 000 */
  connectTimeoutMs?: number;
}

/**
 * Opens a connection and resolves once it is established. Failures are
 * one-line NetworkErrors: "connect to 127.0.0.1:7007: connection refused",
 * "… host unreachable", "… timed out after 10000 ms".
 */
export function connect(address: Address, options: ConnectOptions = {}): Promise<Connection> {
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const what = `connect to ${formatAddress(address)}`;
  return new Promise((resolve, reject) => {
    const socket =
      address.kind === 'unix'
        ? netConnect({ path: address.path, allowHalfOpen: true })
        : netConnect({ host: address.host, port: address.port, allowHalfOpen: true });
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
      resolve(new Connection(socket, remote, { ...CLIENT_CONNECTION_LIMITS, ...options }));
    });
  });
}
