import { UsageError, type ErrorCode } from '../../errors.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { hexDump } from './hex-dump.js';
import { describeRead, type ReadReport } from './inspector.js';

/**
 * UDP has no end of stream to wait for: after stdin EOF, `connect --udp`
 * keeps printing replies this long, then exits (socat's -t, 0.5 s, is the
 * same idea). `--linger` overrides it (ms).
 */
export const DEFAULT_UDP_LINGER_MS = 1_000;

/** `listen --keep-open`: clients (or UDP peers) served at once, ncat's default. */
export const DEFAULT_MAX_CONNS = 100;

/** What both `connect` and `listen` relay and show. */
export interface RelayOptions {
  /** UDP datagrams instead of a TCP or Unix stream. */
  udp?: boolean;
  /**
   * Each stdin line is sent as one frame, each received frame is printed as
   * one line (or a JSON line). Streams only: a datagram keeps its boundaries.
   */
  frames?: ByteOrder | undefined;
  /** Frames in and out are bounded by this (bytes). @default 16 MiB */
  maxFrame?: number;
  /** Print JSON lines on the output: every frame or read, and connection events. */
  json?: boolean;
  /** Only send: what the peer sends is read and dropped. */
  sendOnly?: boolean;
  /** Only receive: stdin is never read; our side ends when the peer's does. */
  recvOnly?: boolean;
  /**
   * After stdin EOF (and our FIN is out), quit at most this long later (ms),
   * like `nc -q`. Undefined: a stream waits for the peer to close; UDP
   * connect waits DEFAULT_UDP_LINGER_MS; UDP listen goes on.
   */
  lingerMs?: number | undefined;
  /** No traffic either way for this long fails the session with IDLE_TIMEOUT (ms). 0: never. */
  idleTimeoutMs?: number;
  /** Emit `dump` events with the bytes of both directions. */
  hex?: boolean;
  /** Emit a `read` event for every read from the socket. */
  showReads?: boolean;
}

/** Where a relay reads, writes, and reports. */
export interface RelayIo {
  /** What is sent (stdin). Not touched with recvOnly. */
  input: NodeJS.ReadableStream;
  /** What is received (stdout): exactly the peer's bytes, frame lines, or JSON lines. */
  output: NodeJS.WritableStream;
  /** Connection events and diagnostics (the CLI prints them on stderr). */
  onEvent?: (event: RelayEvent) => void;
}

/** Events a relay reports; `peer` is `127.0.0.1:5555`, `[::1]:5555` or `unix`. */
export type RelayEvent =
  | { type: 'listening'; address: string }
  | { type: 'connect'; peer: string; inbound: boolean }
  | {
      type: 'close';
      peer: string;
      bytesIn: number;
      bytesOut: number;
      durationMs: number;
      code?: ErrorCode;
      message?: string;
    }
  | { type: 'refused'; peer: string; code: ErrorCode; message: string }
  | { type: 'read'; peer: string; report: ReadReport }
  | { type: 'dump'; peer: string; direction: 'sent' | 'received'; offset: number; bytes: Buffer };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `{"text": …}` for valid UTF-8, else `{"base64": …}`: JSON can carry any payload. */
export function payloadFields(payload: Uint8Array): { text: string } | { base64: string } {
  try {
    return { text: utf8.decode(payload) };
  } catch {
    return {
      base64: Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('base64'),
    };
  }
}

/** The JSON line for a received frame. */
export function frameJson(peer: string, frame: number, payload: Uint8Array): string {
  return `${JSON.stringify({ type: 'frame', peer, frame, bytes: payload.length, ...payloadFields(payload) })}\n`;
}

/** The JSON line for a raw read (a stream read or a datagram). */
export function dataJson(peer: string, read: number, bytes: Uint8Array): string {
  return `${JSON.stringify({ type: 'data', peer, read, bytes: bytes.length, ...payloadFields(bytes) })}\n`;
}

/** The JSON line of a connection event, or undefined for diagnostics (those stay on stderr). */
export function eventJson(event: RelayEvent): string | undefined {
  if (event.type === 'read' || event.type === 'dump') return undefined;
  return `${JSON.stringify(event)}\n`;
}

/**
 * An event as text lines for people (stderr). With `showPeer` (several
 * connections at once) diagnostics are prefixed with `[peer] `.
 */
export function describeEvent(event: RelayEvent, showPeer = false): string[] {
  const tag = showPeer ? `[${event.type === 'listening' ? '' : event.peer}] ` : '';
  switch (event.type) {
    case 'listening':
      return [`listening on ${event.address}`];
    case 'connect':
      return [event.inbound ? `connection from ${event.peer}` : `connected to ${event.peer}`];
    case 'close': {
      const why = event.code ? `: ${event.message ?? ''} (${event.code})` : '';
      return [
        `closed ${event.peer}, ${event.bytesIn} B in, ${event.bytesOut} B out, ${event.durationMs} ms${why}`,
      ];
    }
    case 'refused':
      return [`refused ${event.peer}: ${event.message} (${event.code})`];
    case 'read':
      return [`${tag}${describeRead(event.report)}`];
    case 'dump': {
      const arrow = event.direction === 'sent' ? '>' : '<';
      return hexDump(event.bytes, event.offset).map((line) => `${tag}${arrow} ${line}`);
    }
  }
}

/** Options that contradict each other are a usage error, before any socket is opened. */
export function checkRelayOptions(options: RelayOptions): void {
  if (options.sendOnly && options.recvOnly) {
    throw new UsageError('BAD_OPTION', '--send-only and --recv-only exclude each other');
  }
  if (options.udp && options.frames !== undefined) {
    throw new UsageError(
      'BAD_OPTION',
      '--frames needs a stream (TCP or a Unix socket): a UDP datagram already is one message',
    );
  }
}
