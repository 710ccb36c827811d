import { DEFAULT_MAX_FRAME } from '../../limits.js';
import { FRAME_HEADER_BYTES, type ByteOrder } from '../../protocol/byte-order.js';
import { FrameDecoder } from '../../protocol/frame-decoder.js';

/** What one read did to one frame. */
export interface FrameStep {
  /** The frame's number on this connection, from 1. */
  frame: number;
  /**
   * `complete`: the frame's last byte was in this read (`reads` says how many
   * reads it took); `started`: it began here and is not finished;
   * `continued`: it began earlier, went on here, and is still not finished.
   */
  state: 'complete' | 'started' | 'continued';
  /** Payload bytes received so far (the whole payload when complete). */
  received: number;
  /** The declared payload length; undefined while the 4-byte header itself is split. */
  length: number | undefined;
  /** Header bytes received so far (4 once the length is known). */
  headerBytes: number;
  /** Reads the frame has spanned so far, this one included. */
  reads: number;
}

/** One read from the socket, and in framed mode what it did to frames. */
export interface ReadReport {
  /** The read's number on this connection, from 1. */
  read: number;
  bytes: number;
  /** Empty in raw mode. */
  frames: FrameStep[];
}

/** Options of {@link ReadInspector}: the framing to follow and the largest frame. */
export interface ReadInspectorOptions {
  /** Frame byte order, or undefined for raw bytes (reads are only counted). */
  framing?: ByteOrder | undefined;
  /** @default 16 MiB */
  maxFrame?: number;
}

/**
 * Makes sticky packets visible: for every read, its size and which frames it
 * completed, started or continued. The frames themselves come from the
 * protocol layer's FrameDecoder (same limits, same errors), so inspecting
 * costs no second decode; each whole payload goes to `onFrame`. Pure: feed
 * it reads from anywhere.
 */
export class ReadInspector {
  private readonly decoder: FrameDecoder | undefined;
  private reads = 0;
  /** Number of the next frame to complete. */
  private nextFrame = 1;
  /** The read in which the pending frame began. */
  private pendingSince = 0;
  private steps: FrameStep[] = [];
  private carried = false;

  constructor(
    onFrame: (payload: Buffer, frame: number) => void,
    options: ReadInspectorOptions = {},
  ) {
    if (options.framing === undefined) return;
    this.decoder = new FrameDecoder(
      (payload) => {
        const frame = this.nextFrame++;
        // The first frame finished by a read that began inside a frame is that older frame.
        const reads = this.carried ? this.reads - this.pendingSince + 1 : 1;
        this.carried = false;
        this.steps.push({
          frame,
          state: 'complete',
          received: payload.length,
          length: payload.length,
          headerBytes: FRAME_HEADER_BYTES,
          reads,
        });
        onFrame(payload, frame);
      },
      { byteOrder: options.framing, maxFrame: options.maxFrame ?? DEFAULT_MAX_FRAME },
    );
  }

  /** Frames completed so far. */
  get frames(): number {
    return this.nextFrame - 1;
  }

  /** Whether a frame has started and is not finished. */
  get inFrame(): boolean {
    return this.decoder?.inFrame ?? false;
  }

  /** Feeds one read. Throws FRAME_TOO_LARGE from the decoder. */
  push(chunk: Buffer): ReadReport {
    const read = ++this.reads;
    const decoder = this.decoder;
    if (!decoder) return { read, bytes: chunk.length, frames: [] };
    const steps: FrameStep[] = [];
    this.steps = steps;
    const wasInFrame = decoder.inFrame;
    this.carried = wasInFrame;
    decoder.push(chunk);
    if (decoder.inFrame) {
      const continued = wasInFrame && steps.length === 0;
      if (!continued) this.pendingSince = read;
      const length = decoder.pendingLength;
      const held = decoder.bufferedBytes;
      steps.push({
        frame: this.nextFrame,
        state: continued ? 'continued' : 'started',
        received: length === undefined ? 0 : held - FRAME_HEADER_BYTES,
        length,
        headerBytes: length === undefined ? held : FRAME_HEADER_BYTES,
        reads: read - this.pendingSince + 1,
      });
    }
    return { read, bytes: chunk.length, frames: steps };
  }

  /** End of stream: throws INCOMPLETE if it ended inside a frame. */
  end(): void {
    this.decoder?.end();
  }
}

function describeStep(step: FrameStep): string {
  const name = `frame ${step.frame}`;
  if (step.state === 'complete') {
    const over = step.reads > 1 ? `, ${step.reads} reads` : '';
    return `${name} complete (${step.received} B${over})`;
  }
  const progress =
    step.length === undefined
      ? `header ${step.headerBytes}/${FRAME_HEADER_BYTES} B`
      : `${step.received}/${step.length} B`;
  return `${name} ${step.state}, ${progress}`;
}

/**
 * One line per read, e.g. `read 3: 18 B → frame 1 complete (5 B), frame 2
 * complete (5 B)` or `read 4: 4096 B → frame 3 started, 4092/10240 B`.
 */
export function describeRead(report: ReadReport): string {
  const head = `read ${report.read}: ${report.bytes} B`;
  if (report.frames.length === 0) return head;
  return `${head} → ${report.frames.map(describeStep).join(', ')}`;
}
