import { DEFAULT_MAX_FRAME } from '../../limits.js';
import type { CloseInfo, Connection } from '../../transport/connection.js';
import { ReadInspector } from './inspector.js';
import { dataJson, frameJson, type RelayEvent, type RelayOptions } from './messages.js';
import type { InputPump, InputSink, OutputGate } from './stdio.js';

const LF = Buffer.from('\n');

/** A relay's connection limits: no idle, message or write deadlines unless asked for. */
export function relayLimits(options: RelayOptions): {
  idleTimeoutMs: number;
  messageTimeoutMs: number;
  writeTimeoutMs: number;
  pauseReadingWhileBlocked: boolean;
} {
  return {
    idleTimeoutMs: options.idleTimeoutMs ?? 0,
    messageTimeoutMs: 0,
    writeTimeoutMs: 0,
    // Reading goes to stdout, not back to the peer: a slow peer must not stop it.
    pauseReadingWhileBlocked: false,
  };
}

export interface StreamRelayParts {
  conn: Connection;
  options: RelayOptions;
  /** Where received bytes go. */
  output: OutputGate;
  /** Where sent bytes come from; undefined with recvOnly. */
  input: InputPump | undefined;
  emit: (event: RelayEvent) => void;
  /** Accepted by a listener (for the `connect` event). */
  inbound: boolean;
}

/**
 * One TCP or Unix-socket connection relayed byte for byte: the input to the
 * peer, the peer to the output, with backpressure both ways, and half-close
 * done right — the input's end becomes our FIN and we go on reading until
 * the peer's; the peer's FIN does not stop us sending until the input ends.
 */
export class StreamRelay {
  /** Resolves once the connection has closed; `error` says why, if it failed. */
  readonly done: Promise<CloseInfo>;
  private readonly conn: Connection;
  private readonly options: RelayOptions;
  private readonly output: OutputGate;
  private readonly input: InputPump | undefined;
  private readonly emit: (event: RelayEvent) => void;
  private readonly inspector: ReadInspector;
  private readonly sink: InputSink;
  private received = 0;
  private sent = 0;
  private ourSideEnded = false;
  private peerEnded = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly resume = (): void => {
    this.conn.resume();
  };

  constructor(parts: StreamRelayParts) {
    const { conn, options } = parts;
    this.conn = conn;
    this.options = options;
    this.output = parts.output;
    this.input = parts.input;
    this.emit = parts.emit;
    this.inspector = new ReadInspector(
      (payload, frame) => {
        this.printFrame(payload, frame);
      },
      { framing: options.frames, maxFrame: options.maxFrame ?? DEFAULT_MAX_FRAME },
    );
    this.sink = {
      write: (chunks) => this.send(chunks),
      drained: () => conn.drained(),
      end: () => {
        this.endOurSide();
      },
    };
    this.done = new Promise((resolve) => {
      conn.start({
        data: (chunk) => {
          this.onData(chunk);
        },
        end: () => {
          this.onPeerEnd();
        },
        close: (info) => {
          this.onClose(info);
          resolve(info);
        },
      });
    });
    this.emit({ type: 'connect', peer: conn.remote, inbound: parts.inbound });
    this.input?.add(this.sink);
  }

  private onData(chunk: Buffer): void {
    if (this.options.hex) {
      this.emit({
        type: 'dump',
        peer: this.conn.remote,
        direction: 'received',
        offset: this.received,
        bytes: chunk,
      });
    }
    this.received += chunk.length;
    const report = this.inspector.push(chunk); // frames are printed as they complete
    if (this.options.showReads) this.emit({ type: 'read', peer: this.conn.remote, report });
    if (this.options.frames !== undefined || this.options.sendOnly) return;
    this.print(this.options.json ? [dataJson(this.conn.remote, report.read, chunk)] : [chunk]);
  }

  private printFrame(payload: Buffer, frame: number): void {
    if (this.options.sendOnly) return;
    this.print(this.options.json ? [frameJson(this.conn.remote, frame, payload)] : [payload, LF]);
  }

  /** Writes to the output; a full output pauses reading from the peer until it drains. */
  private print(parts: readonly (Uint8Array | string)[]): void {
    if (!this.output.write(parts, this.resume)) this.conn.pause();
  }

  private send(chunks: readonly Uint8Array[]): boolean {
    if (this.options.hex) {
      const bytes =
        chunks.length === 1 ? Buffer.from(chunks[0] as Uint8Array) : Buffer.concat(chunks);
      this.emit({
        type: 'dump',
        peer: this.conn.remote,
        direction: 'sent',
        offset: this.sent,
        bytes,
      });
      this.sent += bytes.length;
    }
    return this.conn.writev(chunks);
  }

  private onPeerEnd(): void {
    this.inspector.end(); // INCOMPLETE if the peer stopped inside a frame
    this.peerEnded = true;
    // Nothing more will come from the peer; we finish too once we have nothing more to send.
    if (this.ourSideEnded || this.input === undefined) this.endOurSide();
  }

  /** Our FIN, after everything queued; with a linger, the close follows at most that much later. */
  private endOurSide(): void {
    if (this.ourSideEnded) return;
    this.ourSideEnded = true;
    this.conn.end();
    const lingerMs = this.options.lingerMs;
    if (lingerMs === undefined || this.peerEnded) return;
    void this.conn.finished().then(() => {
      if (this.conn.isClosed) return;
      this.lingerTimer = setTimeout(() => {
        this.conn.destroy(); // what the user asked for: not an error
      }, lingerMs);
    });
  }

  private onClose(info: CloseInfo): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.input?.remove(this.sink);
    const error = info.error;
    this.emit({
      type: 'close',
      peer: this.conn.remote,
      bytesIn: info.bytesRead,
      bytesOut: info.bytesWritten,
      durationMs: info.durationMs,
      ...(error ? { code: error.code, message: error.message } : {}),
    });
  }
}
