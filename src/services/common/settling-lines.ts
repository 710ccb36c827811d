/**
 * Text lines for the raw modes a tutorial client talks to (echo hello, chat
 * text). Such a client sends `b'Michael'` with no line end and then blocks
 * in recv(): the original servers answered whatever one recv() returned. So
 * a read that ends inside a line becomes the line once `settleMs` pass with
 * no more bytes (`terminated: false`); a line whose end arrives in a later
 * read within that time is still one line, and `nc` users, whose lines end
 * in LF, never wait. The decoder itself is pure (protocol/line-decoder.ts);
 * the timer lives here, in the services layer.
 */
import { DEFAULT_LINE_SETTLE_MS, DEFAULT_MAX_LINE } from '../../limits.js';
import { LineDecoder } from '../../protocol/line-decoder.js';

export interface SettlingLinesOptions {
  /** @default 64 KiB (LINE_TOO_LONG beyond) */
  maxLine?: number;
  /** 0 waits for a line end (or the end of the stream) only. @default 100 ms */
  settleMs?: number;
  /** Called after a line was taken on a pause (timer context: act on it here). */
  settled?: () => void;
}

export class SettlingLines {
  private readonly lines: LineDecoder;
  private readonly settleMs: number;
  private readonly settled: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settling = false;

  /** `onLine(line, terminated)`: `terminated` is false for a line ended by a pause. */
  constructor(
    onLine: (line: Buffer, terminated: boolean) => void,
    options: SettlingLinesOptions = {},
  ) {
    this.lines = new LineDecoder(
      (line) => {
        onLine(line, !this.settling);
      },
      { maxLine: options.maxLine ?? DEFAULT_MAX_LINE },
    );
    this.settleMs = options.settleMs ?? DEFAULT_LINE_SETTLE_MS;
    this.settled = options.settled;
  }

  /** Bytes of a line not yet ended. */
  get bufferedBytes(): number {
    return this.lines.bufferedBytes;
  }

  /** One read's bytes. Throws LINE_TOO_LONG (a ProtocolError) as LineDecoder does. */
  push(chunk: Buffer): void {
    this.cancel();
    this.lines.push(chunk);
    if (this.settleMs > 0 && this.lines.bufferedBytes > 0) {
      this.timer = setTimeout(() => {
        this.settle();
      }, this.settleMs);
    }
  }

  /** End of stream: a last line without a line end is still a line. */
  end(): void {
    this.cancel();
    this.lines.end();
  }

  /** The connection is gone: no line will be taken on a pause any more. */
  cancel(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private settle(): void {
    this.timer = undefined;
    if (this.lines.bufferedBytes === 0) return;
    this.settling = true;
    try {
      this.lines.end();
    } finally {
      this.settling = false;
    }
    this.settled?.();
  }
}
