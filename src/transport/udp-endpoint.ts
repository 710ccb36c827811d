import { createSocket, type Socket } from 'node:dgram';
import { UsageError, fromSystemError, type SockitError } from '../errors.js';
import { formatAddress, normalizeHost, udpFamily, type Address } from './address.js';
import type { UdpPeer } from './udp-server.js';

export interface UdpEndpointHandlers {
  /** A datagram, with its source (an IPv4-mapped source in its IPv4 form). */
  message(datagram: Buffer, peer: UdpPeer): void;
  /**
   * An error from the socket. On a connected endpoint an ICMP port
   * unreachable arrives here as CONNECTION_REFUSED.
   */
  error?(error: SockitError): void;
}

/**
 * A plain UDP socket for tools that move user data, not a guarded service:
 * `connect` talks to one peer (the kernel drops datagrams from anyone else,
 * and reports ICMP unreachable), `bind` talks to whoever sends. Unlike
 * UdpServer it sends what it is told to, so it has no reflection guard; it
 * answers nobody on its own.
 */
export class UdpEndpoint {
  /** The bound local address (the real port when 0 was asked for). */
  readonly local: Address;
  /** The peer of a connected endpoint. */
  readonly remote: UdpPeer | undefined;
  private readonly socket: Socket;
  private handlers: UdpEndpointHandlers | undefined;
  private closed = false;

  private constructor(socket: Socket, remote: UdpPeer | undefined) {
    this.socket = socket;
    this.remote = remote;
    const local = socket.address();
    this.local = { kind: 'inet', host: local.address, port: local.port };
    socket.on('message', (msg, rinfo) => {
      this.handlers?.message(msg, { host: normalizeHost(rinfo.address), port: rinfo.port });
    });
    socket.on('error', (err) => {
      const where = remote ? formatAddress({ kind: 'inet', ...remote }) : formatAddress(this.local);
      this.handlers?.error?.(fromSystemError(err, `udp ${where}`));
    });
  }

  /** A socket connected to `address`: sends go there, only its datagrams arrive. */
  static async connect(address: Address): Promise<UdpEndpoint> {
    const inet = inetOnly(address);
    const socket = createSocket(udpFamily(inet.host));
    await settle(socket, `udp ${formatAddress(address)}`, (done) => {
      socket.connect(inet.port, inet.host, done);
    });
    const remote = socket.remoteAddress();
    return new UdpEndpoint(socket, { host: normalizeHost(remote.address), port: remote.port });
  }

  /** A socket bound to `address`, receiving from anyone. */
  static async bind(address: Address): Promise<UdpEndpoint> {
    const inet = inetOnly(address);
    // No reuseAddr: another process must not be able to bind the port and steal datagrams.
    const socket = createSocket({ type: udpFamily(inet.host), reuseAddr: false });
    await settle(socket, `listen on udp ${formatAddress(address)}`, (done) => {
      socket.bind({ address: inet.host, port: inet.port, exclusive: true }, done);
    });
    return new UdpEndpoint(socket, undefined);
  }

  /** Starts delivering datagrams and errors. */
  start(handlers: UdpEndpointHandlers): void {
    this.handlers = handlers;
  }

  /**
   * Sends one datagram (to `peer`, or to the connected peer). Resolves once
   * the OS has taken it; rejects with DATAGRAM_TOO_LARGE, CONNECTION_REFUSED…
   */
  send(datagram: Uint8Array, peer?: UdpPeer): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null): void => {
        if (err) reject(fromSystemError(err, `udp send to ${describe(peer ?? this.remote)}`));
        else resolve();
      };
      if (this.closed) {
        resolve();
        return;
      }
      if (peer) this.socket.send(datagram, peer.port, peer.host, done);
      else this.socket.send(datagram, done);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      this.socket.close(() => {
        resolve();
      });
    });
  }
}

function describe(peer: UdpPeer | undefined): string {
  return peer ? formatAddress({ kind: 'inet', ...peer }) : 'peer';
}

function inetOnly(address: Address): { host: string; port: number } {
  if (address.kind !== 'inet') {
    throw new UsageError('BAD_ADDRESS', `UDP needs host:port, not ${formatAddress(address)}`);
  }
  return address;
}

/** Runs a bind/connect and turns its failure into a one-line error. */
async function settle(
  socket: Socket,
  what: string,
  start: (done: () => void) => void,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(fromSystemError(err, what));
    };
    socket.once('error', onError);
    start(() => {
      socket.off('error', onError);
      resolve();
    });
  });
}
