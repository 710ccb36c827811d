import { ProtocolError } from '../errors.js';
import { DEFAULT_MAX_LINE } from '../limits.js';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a text stream into lines on LF, dropping a trailing CR (telnet and
 * `nc -C` send CRLF). A line longer than `maxLine` bytes is a LINE_TOO_LONG
 * protocol error, raised before more than `maxLine` bytes are held.
 */
export class LineDecoder {
  private readonly onLine: (line: Buffer) => void;
  private readonly maxLine: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(onLine: (line: Buffer) => void, options: { maxLine?: number } = {}) {
    this.onLine = onLine;
    this.maxLine = options.maxLine ?? DEFAULT_MAX_LINE;
  }

  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, start)) {
      const piece = chunk.subarray(start, lf);
      start = lf + 1;
      if (this.pendingBytes === 0) {
        this.emit(piece);
      } else {
        this.pending.push(piece);
        const line = Buffer.concat(this.pending, this.pendingBytes + piece.length);
        this.pending = [];
        this.pendingBytes = 0;
        this.emit(line);
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxLine) {
        this.pending = [];
        this.pendingBytes = 0;
        throw this.tooLong();
      }
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
  }

  /** End of stream: a last line without LF is still a line. */
  end(): void {
    if (this.pendingBytes === 0) return;
    const line = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.emit(line);
  }

  private emit(line: Buffer): void {
    const text = line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
    if (text.length > this.maxLine) throw this.tooLong();
    this.onLine(text);
  }

  private tooLong(): ProtocolError {
    return new ProtocolError('LINE_TOO_LONG', `line longer than ${this.maxLine} bytes`);
  }
}
