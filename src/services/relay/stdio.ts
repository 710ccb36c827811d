import { NetworkError, SockitError, fromSystemError } from '../../errors.js';
import { DEFAULT_MAX_FRAME } from '../../limits.js';
import type { ByteOrder } from '../../protocol/byte-order.js';
import { encodeFrame } from '../../protocol/frame-encoder.js';
import { LineDecoder } from '../../protocol/line-decoder.js';
import { eventJson, type RelayEvent } from './messages.js';

/** One peer's sending side, as the input pump sees it. */
export interface InputSink {
  /** Sends the chunks in order; false means: wait for `drained()` before more. */
  write(chunks: readonly Uint8Array[]): boolean;
  drained(): Promise<void>;
  /** The input has ended: finish this side (a FIN, or the start of a linger). */
  end(): void;
}

export interface InputPumpOptions {
  /** Send each input line as one frame of this byte order, instead of the bytes as they come. */
  frames?: ByteOrder | undefined;
  /** @default 16 MiB: a longer line is LINE_TOO_LONG, before it is sent */
  maxFrame?: number;
  /** A broken input (a line too long, a read error) stops everything. */
  onError: (error: SockitError) => void;
}

/**
 * Reads the input (stdin) and hands every chunk — or, framed, every line as
 * a frame — to each sink, with backpressure: the input is paused while any
 * sink's writes have not drained, and while there is no sink at all (nothing
 * is read before a peer can take it). Its end reaches every sink, also those
 * added later.
 */
export class InputPump {
  private readonly input: NodeJS.ReadableStream;
  private readonly sinks = new Set<InputSink>();
  private readonly lines: LineDecoder | undefined;
  private readonly options: InputPumpOptions;
  private batch: Uint8Array[] = [];
  private reading = false;
  private waiting = false;
  private ended = false;
  private stopped = false;
  private readonly onData = (chunk: Buffer | string): void => {
    this.deliver(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  private readonly onEnd = (): void => {
    this.finish();
  };
  private readonly onInputError = (err: Error): void => {
    this.fail(fromSystemError(err, 'reading input'));
  };

  constructor(input: NodeJS.ReadableStream, options: InputPumpOptions) {
    this.input = input;
    this.options = options;
    const frames = options.frames;
    if (frames !== undefined) {
      const maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
      this.lines = new LineDecoder(
        (line) => {
          this.batch.push(...encodeFrame(line, { byteOrder: frames, maxFrame }));
        },
        { maxLine: maxFrame },
      );
    }
  }

  /** Whether the input has ended. */
  get done(): boolean {
    return this.ended;
  }

  add(sink: InputSink): void {
    if (this.stopped) return;
    if (this.ended) {
      sink.end();
      return;
    }
    this.sinks.add(sink);
    if (!this.reading) {
      this.reading = true;
      this.input.on('data', this.onData);
      this.input.on('end', this.onEnd);
      this.input.on('error', this.onInputError);
    }
    if (!this.waiting) this.input.resume();
  }

  remove(sink: InputSink): void {
    this.sinks.delete(sink);
    if (this.sinks.size === 0 && !this.ended) this.input.pause();
  }

  /** Stops reading for good. */
  stop(): void {
    this.stopped = true;
    this.sinks.clear();
    this.input.off('data', this.onData);
    this.input.off('end', this.onEnd);
    this.input.off('error', this.onInputError);
    this.input.pause();
  }

  private deliver(chunk: Buffer): void {
    let chunks: Uint8Array[] = [chunk];
    if (this.lines) {
      try {
        this.lines.push(chunk);
      } catch (err) {
        this.fail(err);
        return;
      }
      chunks = this.takeBatch();
    }
    this.send(chunks);
  }

  private send(chunks: Uint8Array[]): void {
    if (chunks.length === 0 || this.stopped) return;
    let ok = true;
    for (const sink of this.sinks) if (!sink.write(chunks)) ok = false;
    if (ok) return;
    this.waiting = true;
    this.input.pause();
    void Promise.all([...this.sinks].map((sink) => sink.drained())).then(() => {
      this.waiting = false;
      if (!this.stopped && !this.ended && this.sinks.size > 0) this.input.resume();
    });
  }

  private finish(): void {
    if (this.ended) return;
    if (this.lines) {
      try {
        this.lines.end(); // a last line without LF is still a frame
      } catch (err) {
        this.fail(err);
        return;
      }
      this.send(this.takeBatch());
    }
    this.ended = true;
    for (const sink of this.sinks) sink.end();
  }

  private takeBatch(): Uint8Array[] {
    const batch = this.batch;
    this.batch = [];
    return batch;
  }

  private fail(err: unknown): void {
    this.stop();
    this.options.onError(err instanceof SockitError ? err : fromSystemError(err, 'reading input'));
  }
}

/**
 * The output (stdout) shared by every connection: `write` returns false when
 * it is full, and calls each blocked writer's `resume` once it drains. A
 * closed reader (EPIPE: `sockit connect … | head -1`) is reported once.
 */
export class OutputGate {
  private readonly output: NodeJS.WritableStream;
  private readonly blocked = new Set<() => void>();
  private readonly onDrain = (): void => {
    const resumes = [...this.blocked];
    this.blocked.clear();
    for (const resume of resumes) resume();
  };
  private readonly onError = (err: Error): void => {
    if (this.failed) return;
    this.failed = true;
    const why =
      (err as NodeJS.ErrnoException).code === 'EPIPE' ? 'its reader has gone (EPIPE)' : err.message;
    this.onFailure(new NetworkError('NETWORK_ERROR', `writing output: ${why}`, { cause: err }));
  };
  private readonly onFailure: (error: SockitError) => void;
  private failed = false;

  constructor(output: NodeJS.WritableStream, onFailure: (error: SockitError) => void) {
    this.output = output;
    this.onFailure = onFailure;
    output.on('drain', this.onDrain);
    output.on('error', this.onError);
  }

  /** Writes the parts in order; false means `resume` will be called when there is room. */
  write(parts: readonly (Uint8Array | string)[], resume: () => void): boolean {
    if (this.failed) return true; // nobody reads any more: drop, the relay is stopping
    let ok = true;
    for (const part of parts) ok = this.output.write(part) && ok;
    if (!ok) this.blocked.add(resume);
    return ok;
  }

  close(): void {
    this.blocked.clear();
    this.output.off('drain', this.onDrain);
    // Keep the error listener: a late EPIPE must not become an uncaught exception.
  }
}

/**
 * Reports an event to the caller and, with --json, as a JSON line on the
 * output, so a script reading stdout sees connections open and close.
 */
export function eventReporter(
  onEvent: ((event: RelayEvent) => void) | undefined,
  output: OutputGate,
  json: boolean,
): (event: RelayEvent) => void {
  return (event) => {
    if (json) {
      const line = eventJson(event);
      if (line !== undefined) output.write([line], () => undefined);
    }
    onEvent?.(event);
  };
}
