import { createSocket, type Socket } from 'node:dgram';
import { NetworkError, UsageError, fromSystemError } from '../errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../limits.js';
import { formatAddress, normalizeHost, udpFamily, type Address } from './address.js';

/** Options of a {@link UdpClient} request: timeout and retries. */
export interface UdpRequestOptions {
  /** Total time for all attempts (ms). @default 10 000 */
  timeoutMs?: number;
  /** Retransmissions after the first send. @default 3 */
  retries?: number;
  /** Accepts a reply; others (late duplicates, strays) are ignored. @default any */
  match?: (reply: Buffer) => boolean;
}

/** One reply datagram and who sent it. */
export interface UdpReply {
  reply: Buffer;
  /** From the send that was answered to the reply (ms). */
  rttMs: number;
  attempts: number;
}

interface Pending {
  match: (reply: Buffer) => boolean;
  resolve: (reply: Buffer) => void;
  reject: (error: Error) => void;
}

/**
 * Request/response over UDP to one server. Datagrams get lost even on
 * loopback (a busy receiver overflows its buffer), so each request is
 * retransmitted with exponential backoff; the waits add up to `timeoutMs`.
 * Only replies from the server's own address and port are accepted: the
 * socket is connected, and the source is checked again.
 */
export class UdpClient {
  private readonly socket: Socket;
  private readonly target: { host: string; port: number };
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Datagrams ignored because they came from elsewhere or matched nothing. */
  ignored = 0;

  private constructor(socket: Socket, target: { host: string; port: number }) {
    this.socket = socket;
    this.target = target;
    socket.on('message', (msg, rinfo) => {
      const pending = this.pending;
      if (
        !pending ||
        rinfo.port !== target.port ||
        normalizeHost(rinfo.address) !== normalizeHost(target.host) ||
        !pending.match(msg)
      ) {
        this.ignored++;
        return;
      }
      this.pending = undefined;
      pending.resolve(msg);
    });
    // A connected UDP socket reports ICMP port-unreachable as ECONNREFUSED.
    socket.on('error', (err) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(fromSystemError(err, `udp ${formatAddress({ kind: 'inet', ...target })}`));
    });
  }

  static async open(address: Address): Promise<UdpClient> {
    if (address.kind !== 'inet')
      throw new UsageError('BAD_ADDRESS', 'UDP needs a host:port address');
    const socket = createSocket(udpFamily(address.host));
    const what = `udp ${formatAddress(address)}`;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(fromSystemError(err, what));
      });
      socket.connect(address.port, address.host, () => {
        socket.removeAllListeners('error');
        resolve();
      });
    });
    const remote = socket.remoteAddress();
    return new UdpClient(socket, { host: remote.address, port: remote.port });
  }

  /** One request at a time; concurrent calls wait their turn. */
  request(payload: Uint8Array, options: UdpRequestOptions = {}): Promise<UdpReply> {
    const run = this.queue.then(() => this.exchange(payload, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private async exchange(payload: Uint8Array, options: UdpRequestOptions): Promise<UdpReply> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const retries = options.retries ?? 3;
    const match = options.match ?? (() => true);
    // Waits double each time and sum to timeoutMs: w + 2w + … + 2^retries·w.
    const firstWait = timeoutMs / (2 ** (retries + 1) - 1);
    const reply = new Promise<Buffer>((resolve, reject) => {
      this.pending = { match, resolve, reject };
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      for (let attempt = 0; attempt <= retries; attempt++) {
        const sentAt = performance.now();
        this.socket.send(payload);
        // A little jitter (up to −10 %) so many clients do not retransmit in step.
        const wait = firstWait * 2 ** attempt * (0.9 + Math.random() * 0.1);
        const timeout = new Promise<undefined>((resolve) => {
          timer = setTimeout(resolve, wait, undefined);
        });
        const got = await Promise.race([reply, timeout]);
        clearTimeout(timer);
        if (got) return { reply: got, rttMs: performance.now() - sentAt, attempts: attempt + 1 };
      }
    } finally {
      clearTimeout(timer);
      this.pending = undefined;
    }
    throw new NetworkError(
      'TIMEOUT',
      `udp ${formatAddress({ kind: 'inet', ...this.target })}: no reply after ${retries + 1} attempts in ${timeoutMs} ms`,
    );
  }
}
