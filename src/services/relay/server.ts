import { UsageError, type SockitError } from '../../errors.js';
import { encodeTextNotice } from '../../protocol/text-notice.js';
import { AccessList } from '../../transport/access-list.js';
import { formatAddress, formatPeer, type Address } from '../../transport/address.js';
import { TcpServer } from '../../transport/tcp-server.js';
import type { TlsServerConfig } from '../../transport/tls.js';
import { UdpEndpoint } from '../../transport/udp-endpoint.js';
import { runRelay, type Outcome, type RelayParts, type RelaySession } from './session.js';
import { DatagramRelay } from './datagram.js';
import {
  DEFAULT_MAX_CONNS,
  checkRelayOptions,
  type RelayIo,
  type RelayOptions,
} from './messages.js';
import { StreamRelay, relayLimits } from './stream.js';

/** Options of {@link relayListen}: the address, keep-open, access rules, limits. */
export interface RelayListenOptions extends RelayOptions {
  /** Serve TLS (TCP only). */
  tls?: TlsServerConfig;
  /** Serve client after client (and several at once) instead of exactly one. */
  keepOpen?: boolean;
  /** With keepOpen: clients or UDP peers served at once; the next gets BUSY. @default 100 */
  maxConns?: number;
  /** Only these may connect: addresses, CIDR blocks, ranges (ncat's --allow). */
  allow?: readonly string[];
  /** These may not, even if allowed (ncat's --deny). */
  deny?: readonly string[];
}

/** A running {@link relayListen}: its address, and close(). */
export interface RelayListener extends RelaySession {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: Address;
}

interface Parts extends RelayParts {
  access: AccessList | undefined;
}

type Started = { address: Address; stop: (error?: SockitError) => void };

/**
 * `sockit listen`: waits for a client (TCP, Unix socket) or a peer (UDP) and
 * relays it like `relayConnect`. Without keepOpen, one client is served and
 * then `done` settles; with it, clients are served until close(), the input
 * going to every one of them.
 * @example
 * ```ts
 * import { relayListen } from 'sockit';
 *
 * // Like `ncat -l -k`: every peer's bytes to stdout, stdin to every peer.
 * const listener = await relayListen(
 *   { kind: 'inet', host: '127.0.0.1', port: 9000 },
 *   { keepOpen: true, allow: ['127.0.0.1'] },
 *   { input: process.stdin, output: process.stdout },
 * );
 * process.once('SIGINT', () => void listener.close());
 * ```
 */
export async function relayListen(
  address: Address,
  options: RelayListenOptions,
  io: RelayIo,
): Promise<RelayListener> {
  checkRelayOptions(options);
  if (options.maxConns !== undefined && !options.keepOpen) {
    throw new UsageError('BAD_OPTION', '--max-conns needs --keep-open');
  }
  const rules = new AccessList({ allow: options.allow ?? [], deny: options.deny ?? [] });
  if (!rules.empty && address.kind === 'unix') {
    throw new UsageError(
      'BAD_OPTION',
      '--allow and --deny filter IP addresses; a Unix socket is guarded by its file mode (0600)',
    );
  }
  const access = rules.empty ? undefined : rules;
  return runRelay(options, io, async (stdio, end) => {
    const parts: Parts = { ...stdio, access };
    const started = options.udp
      ? await listenUdp(address, options, parts, end)
      : await listenStream(address, options, parts, end);
    return { stop: started.stop, extra: { address: started.address } };
  });
}

async function listenStream(
  address: Address,
  options: RelayListenOptions,
  parts: Parts,
  end: Outcome,
): Promise<Started> {
  const { output, input, emit, access } = parts;
  const keepOpen = options.keepOpen ?? false;
  let served = 0;
  let stopping = false;
  const stop = (error?: SockitError): void => {
    if (stopping) return;
    stopping = true;
    void server.close(0).then(() => {
      if (error) end.fail(error);
      else end.ok();
    });
  };
  const server: TcpServer = new TcpServer(
    (conn) => {
      if (!keepOpen && served > 0) {
        conn.destroy(); // the one client is done; we are closing
        return;
      }
      served++;
      const relay = new StreamRelay({ conn, options, output, input, emit, inbound: true });
      void relay.done.then((info) => {
        if (!keepOpen) stop(info.error);
      });
    },
    {
      ...relayLimits(options),
      maxConnections: keepOpen ? (options.maxConns ?? DEFAULT_MAX_CONNS) : 1,
      ...(options.tls ? { tls: options.tls } : {}),
      busyNotice: (error) => encodeTextNotice(error.code, error.message),
      ...(access
        ? {
            allowPeer: (host: string, port: number): boolean => {
              if (access.allows(host)) return true;
              const peer = formatPeer(host, port);
              emit({ type: 'refused', peer, code: 'ACCESS_DENIED', message: access.reason(host) });
              return false;
            },
          }
        : {}),
      onRefused: (peer, error) => {
        if (error.code === 'ACCESS_DENIED') return; // reported with its reason above
        emit({ type: 'refused', peer, code: error.code, message: error.message });
      },
    },
  );
  const bound = await server.listen(address);
  emit({
    type: 'listening',
    address: bound.kind === 'unix' ? formatAddress(bound) : `tcp ${formatAddress(bound)}`,
  });
  return { address: bound, stop };
}

async function listenUdp(
  address: Address,
  options: RelayListenOptions,
  parts: Parts,
  end: Outcome,
): Promise<Started> {
  const { output, input, emit, access } = parts;
  const endpoint = await UdpEndpoint.bind(address);
  emit({ type: 'listening', address: `udp ${formatAddress(endpoint.local)}` });
  const relay = new DatagramRelay({
    endpoint,
    options,
    output,
    input,
    emit,
    listen: {
      keepOpen: options.keepOpen ?? false,
      maxConns: options.maxConns ?? DEFAULT_MAX_CONNS,
      access,
    },
  });
  void relay.done.then(end.ok, end.fail);
  return {
    address: endpoint.local,
    stop: (error) => {
      if (error) relay.fail(error);
      else void relay.close();
    },
  };
}
