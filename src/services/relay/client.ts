import type { SockitError } from '../../errors.js';
import { DEFAULT_MAX_FRAME } from '../../limits.js';
import type { Address } from '../../transport/address.js';
import { connect } from '../../transport/tcp-client.js';
import { UdpEndpoint } from '../../transport/udp-endpoint.js';
import { DatagramRelay } from './datagram.js';
import { checkRelayOptions, type RelayEvent, type RelayIo, type RelayOptions } from './messages.js';
import { InputPump, OutputGate, eventReporter } from './stdio.js';
import { StreamRelay, relayLimits } from './stream.js';

export interface RelayConnectOptions extends RelayOptions {
  /** How long the TCP or Unix connect may take (ms). @default 10 000 */
  connectTimeoutMs?: number;
  /** Read at most this many bytes per read, like `recv(n)` (streams only). @default 64 KiB */
  readSize?: number;
}

/** A running relay. */
export interface RelaySession {
  /** Resolves when the relay is over; rejects with the SockitError that ended it. */
  readonly done: Promise<void>;
  /** Stops at once (a signal); `done` then resolves. */
  close(): Promise<void>;
}

/** Settles once: the first outcome wins. */
export function outcome(): {
  promise: Promise<void>;
  ok: () => void;
  fail: (error: SockitError) => void;
} {
  let ok!: () => void;
  let fail!: (error: SockitError) => void;
  const promise = new Promise<void>((resolve, reject) => {
    ok = resolve;
    fail = reject;
  });
  return { promise, ok, fail };
}

/**
 * `sockit connect`: relays `io.input` to the peer and the peer to
 * `io.output`, over TCP, a Unix socket or UDP. Resolves once connected;
 * rejects with CONNECTION_REFUSED, CONNECT_TIMEOUT, … when it cannot.
 */
export async function relayConnect(
  address: Address,
  options: RelayConnectOptions,
  io: RelayIo,
): Promise<RelaySession> {
  checkRelayOptions(options);
  const end = outcome();
  // Until the relay runs, a failure just ends the session.
  let stop = (error?: SockitError): void => {
    if (error) end.fail(error);
    else end.ok();
  };
  const output = new OutputGate(io.output, (error) => {
    stop(error);
  });
  const emit = eventReporter(io.onEvent, output, options.json ?? false);
  const input = options.recvOnly
    ? undefined
    : new InputPump(io.input, {
        frames: options.frames,
        maxFrame: options.maxFrame ?? DEFAULT_MAX_FRAME,
        onError: (error) => {
          stop(error);
        },
      });
  const cleanUp = (): void => {
    input?.stop();
    output.close();
  };
  try {
    stop = await start(address, options, { output, input, emit }, end);
  } catch (err) {
    cleanUp();
    throw err;
  }
  const done = end.promise.finally(cleanUp);
  done.catch(() => undefined); // the caller awaits it; never an unhandled rejection meanwhile
  return {
    done,
    close: async () => {
      stop();
      await done.catch(() => undefined);
    },
  };
}

/** Opens the socket and starts relaying; returns how to stop it. */
async function start(
  address: Address,
  options: RelayConnectOptions,
  parts: { output: OutputGate; input: InputPump | undefined; emit: (event: RelayEvent) => void },
  end: ReturnType<typeof outcome>,
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
