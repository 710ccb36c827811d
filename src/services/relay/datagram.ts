import { LimitError, SockitError } from '../../errors.js';
import { DEFAULT_MAX_DATAGRAM } from '../../limits.js';
import { formatPeer } from '../../transport/address.js';
import type { AccessList } from '../../transport/access-list.js';
import type { UdpEndpoint } from '../../transport/udp-endpoint.js';
import type { UdpPeer } from '../../transport/udp-server.js';
import { DEFAULT_UDP_LINGER_MS, dataJson, type RelayEvent, type RelayOptions } from './messages.js';
import type { InputPump, InputSink, OutputGate } from './stdio.js';

export interface DatagramRelayParts {
  endpoint: UdpEndpoint;
  options: RelayOptions;
  output: OutputGate;
  /** Undefined with recvOnly. */
  input: InputPump | undefined;
  emit: (event: RelayEvent) => void;
  /** Listening: peers are whoever sends (else the endpoint is connected to one). */
  listen?: { keepOpen: boolean; maxConns: number; access: AccessList | undefined };
}

interface PeerState {
  readonly peer: UdpPeer;
  readonly name: string;
  readonly sink: InputSink;
  reads: number;
  received: number;
  sent: number;
  /** The sends of the last input chunk, settled once the OS has taken them. */
  inflight: Promise<void>;
}

/**
 * UDP relayed like ncat -u: each datagram received is one read (printed as
 * is), each input chunk is sent as datagrams of at most 65 507 bytes. A
 * connected relay has one peer; a listening one serves the first peer, or
 * with keepOpen up to maxConns of them, sending the input to each.
 */
export class DatagramRelay {
  /** Resolves when the relay is over (linger after EOF, or close()); rejects with its error. */
  readonly done: Promise<void>;
  private readonly parts: DatagramRelayParts;
  private readonly options: RelayOptions;
  private readonly peers = new Map<string, PeerState>();
  private resolveDone!: () => void;
  private rejectDone!: (error: SockitError) => void;
  private finished = false;
  private inputEnded = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(parts: DatagramRelayParts) {
    this.parts = parts;
    this.options = parts.options;
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    parts.endpoint.start({
      message: (datagram, from) => {
        this.onMessage(datagram, from);
      },
      error: (error) => {
        // Only a connected endpoint hears of ICMP errors; a listener has other peers.
        if (!parts.listen) this.fail(error);
      },
    });
    this.touch();
    const remote = parts.endpoint.remote;
    if (remote) this.addPeer(remote, false);
  }

  /** Stops at once (a signal): resolves `done`. */
  async close(): Promise<void> {
    await this.finish();
  }

  /** Fails the relay with `error` (a broken input or output). */
  fail(error: SockitError): void {
    void this.finish(error);
  }

  private onMessage(datagram: Buffer, from: UdpPeer): void {
    if (this.finished) return;
    const name = formatPeer(from.host, from.port);
    const state = this.peers.get(name) ?? this.admit(from, name);
    if (!state) return;
    this.touch();
    const { options, parts } = this;
    const read = ++state.reads;
    if (options.hex) {
      parts.emit({
        type: 'dump',
        peer: name,
        direction: 'received',
        offset: state.received,
        bytes: datagram,
      });
    }
    state.received += datagram.length;
    if (options.showReads) {
      parts.emit({
        type: 'read',
        peer: name,
        report: { read, bytes: datagram.length, frames: [] },
      });
    }
    if (options.sendOnly) return;
    // dgram cannot pause its reading: behind a slow stdout, datagrams are buffered.
    parts.output.write(
      options.json ? [dataJson(name, read, datagram)] : [datagram],
      () => undefined,
    );
  }

  /** A new source on a listening relay: accepted as a peer, or refused with a reason. */
  private admit(from: UdpPeer, name: string): PeerState | undefined {
    const listen = this.parts.listen;
    if (!listen) return undefined; // the kernel filters a connected socket; nothing else can arrive
    const refusal = this.refusal(listen, from.host);
    if (refusal) {
      this.parts.emit({
        type: 'refused',
        peer: name,
        code: refusal.code,
        message: refusal.message,
      });
      return undefined;
    }
    return this.addPeer(from, true);
  }

  private refusal(
    listen: NonNullable<DatagramRelayParts['listen']>,
    host: string,
  ): LimitError | undefined {
    if (listen.access && !listen.access.allows(host)) {
      return new LimitError('ACCESS_DENIED', listen.access.reason(host));
    }
    if (!listen.keepOpen && this.peers.size >= 1) {
      const first = [...this.peers.keys()][0] ?? '';
      return new LimitError('BUSY', `serving ${first} only (--keep-open serves several peers)`);
    }
    if (this.peers.size >= listen.maxConns) {
      return new LimitError('BUSY', `already serving ${listen.maxConns} peers`);
    }
    return undefined;
  }

  private addPeer(peer: UdpPeer, inbound: boolean): PeerState {
    const name = formatPeer(peer.host, peer.port);
    const target = inbound ? peer : undefined; // a connected socket sends to its peer
    const state: PeerState = {
      peer,
      name,
      reads: 0,
      received: 0,
      sent: 0,
      inflight: Promise.resolve(),
      sink: {
        write: (chunks) => {
          this.send(state, target, chunks);
          return false; // wait for the OS to take them: dgram has no other backpressure
        },
        drained: () => state.inflight,
        end: () => {
          this.onInputEnd();
        },
      },
    };
    this.peers.set(name, state);
    this.parts.emit({ type: 'connect', peer: name, inbound });
    this.parts.input?.add(state.sink);
    return state;
  }

  private send(state: PeerState, target: UdpPeer | undefined, chunks: readonly Uint8Array[]): void {
    this.touch();
    const sends: Promise<void>[] = [];
    for (const chunk of chunks) {
      for (let at = 0; at < chunk.length; at += DEFAULT_MAX_DATAGRAM) {
        const datagram = chunk.subarray(at, at + DEFAULT_MAX_DATAGRAM);
        if (this.options.hex) {
          this.parts.emit({
            type: 'dump',
            peer: state.name,
            direction: 'sent',
            offset: state.sent,
            bytes: Buffer.from(datagram),
          });
        }
        state.sent += datagram.length;
        sends.push(this.parts.endpoint.send(datagram, target));
      }
    }
    state.inflight = Promise.all(sends).then(
      () => undefined,
      (err: unknown) => {
        this.onSendError(state, err);
      },
    );
  }

  private onSendError(state: PeerState, err: unknown): void {
    if (!(err instanceof SockitError)) throw err;
    if (!this.parts.listen) {
      this.fail(err);
      return;
    }
    // One listener peer that cannot be reached must not stop the others.
    this.forget(state, err);
  }

  private forget(state: PeerState, error: SockitError): void {
    if (!this.peers.delete(state.name)) return;
    this.parts.input?.remove(state.sink);
    this.parts.emit({
      type: 'close',
      peer: state.name,
      bytesIn: state.received,
      bytesOut: state.sent,
      durationMs: 0,
      code: error.code,
      message: error.message,
    });
  }

  private onInputEnd(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    const lingerMs =
      this.options.lingerMs ?? (this.parts.listen ? undefined : DEFAULT_UDP_LINGER_MS);
    if (lingerMs === undefined) return;
    void Promise.all([...this.peers.values()].map((p) => p.inflight)).then(() => {
      if (this.finished) return;
      this.lingerTimer = setTimeout(() => void this.finish(), lingerMs);
    });
  }

  private touch(): void {
    const idleMs = this.options.idleTimeoutMs ?? 0;
    if (idleMs <= 0 || this.finished) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else
      this.idleTimer = setTimeout(() => {
        this.fail(new LimitError('IDLE_TIMEOUT', `no traffic for ${idleMs} ms`));
      }, idleMs);
  }

  private async finish(error?: SockitError): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const state of this.peers.values()) this.parts.input?.remove(state.sink);
    await this.parts.endpoint.close();
    if (error) this.rejectDone(error);
    else this.resolveDone();
  }
}
