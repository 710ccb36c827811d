import type { SockitError } from '../../errors.js';
import type { Address } from '../../transport/address.js';
import { connect } from '../../transport/tcp-client.js';
import type { TlsClientConfig } from '../../transport/tls.js';
import { UdpEndpoint } from '../../transport/udp-endpoint.js';
import { DatagramRelay } from './datagram.js';
import { checkRelayOptions, type RelayIo, type RelayOptions } from './messages.js';
import { runRelay, type Outcome, type RelayParts, type RelaySession } from './session.js';
import { StreamRelay, relayLimits } from './stream.js';

/** Options of {@link relayConnect}: the target, stdio, framing display, TLS. */
export interface RelayConnectOptions extends RelayOptions {
  /** How long the TCP or Unix connect may take (ms). @default 10 000 */
  connectTimeoutMs?: number;
  /** Read at most this many bytes per read, like `recv(n)` (streams only). @default 64 KiB */
  readSize?: number;
  /** Speak TLS (TCP only), with this trust policy. */
  tls?: TlsClientConfig;
}

/**
 * `sockit connect`: relays `io.input` to the peer and the peer to
 * `io.output`, over TCP, a Unix socket or UDP. Resolves once connected;
 * rejects with CONNECTION_REFUSED, CONNECT_TIMEOUT, … when it cannot.
 * @example
 * ```ts
 * import { parseAddress, relayConnect } from 'sockit';
 *
 * // Like `ncat HOST PORT`: stdin to the peer, the peer to stdout, half-close both ways.
 * const session = await relayConnect(
 *   parseAddress('127.0.0.1', { port: 7007 }),
 *   {},
 *   { input: process.stdin, output: process.stdout },
 * );
 * await session.done;
 * ```
 */
export async function relayConnect(
  address: Address,
  options: RelayConnectOptions,
  io: RelayIo,
): Promise<RelaySession> {
  checkRelayOptions(options);
  return runRelay(options, io, async (parts, end) => ({
    stop: await start(address, options, parts, end),
    extra: {},
  }));
}

/** Opens the socket and starts relaying; returns how to stop it. */
async function start(
  address: Address,
  options: RelayConnectOptions,
  parts: RelayParts,
  end: Outcome,
): Promise<(error?: SockitError) => void> {
  const { output, input, emit } = parts;
  if (options.udp) {
    const endpoint = await UdpEndpoint.connect(address);
    const relay = new DatagramRelay({ endpoint, options, output, input, emit });
    void relay.done.then(end.ok, end.fail);
    return (error) => {
      if (error) relay.fail(error);
      else void relay.close();
    };
  }
  const conn = await connect(address, {
    ...relayLimits(options),
    ...(options.connectTimeoutMs !== undefined
      ? { connectTimeoutMs: options.connectTimeoutMs }
      : {}),
    ...(options.readSize !== undefined ? { readSize: options.readSize } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const relay = new StreamRelay({ conn, options, output, input, emit, inbound: false });
  void relay.done.then((info) => {
    if (info.error) end.fail(info.error);
    else end.ok();
  });
  return (error) => {
    conn.destroy(error);
  };
}
