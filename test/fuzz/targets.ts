/**
 * Every parser that reads bytes from a peer, as a fuzz target. A target turns
 * one input into a printable outcome; the only errors it may let out are
 * SockitErrors with a known code (engine.ts checks that, the time bound and
 * the allocation bound). Stream decoders are also run three ways — one
 * chunk, random chunks (seeded from the input, so replays are identical) and
 * byte by byte — and must agree: anything else is an "invariant" crash.
 */
import * as v from 'valibot';
import { ProtocolError, SockitError, isErrorCode } from '../../src/errors.js';
import {
  EnvelopeDecoder,
  parseEnvelopeHeader,
  type EnvelopeHeader,
} from '../../src/protocol/envelope.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { LineDecoder } from '../../src/protocol/line-decoder.js';
import { parseTextNotice } from '../../src/protocol/text-notice.js';
import {
  DEFAULT_MAX_CHAT_LINE,
  canonicalRoom,
  checkNick,
  checkText,
  parseChatRequest,
  parseTextLine,
} from '../../src/services/chat/messages.js';
import {
  eofSchema,
  isLoaderVariable,
  runRequestSchema,
  signalSchema,
  stdinSchema,
} from '../../src/services/exec/messages.js';
import {
  checkName,
  commitSchema,
  escapeName,
  foldName,
  getRequestSchema,
  listRequestSchema,
  putRequestSchema,
  statRequestSchema,
  tutorialNormalizer,
  tutorialPutSchema,
  TUTORIAL_PUT,
} from '../../src/services/files/messages.js';
import { decodeDatagram } from '../../src/services/messenger/messages.js';
import { decodeRfc868, decodeUnix32 } from '../../src/services/time/messages.js';
import {
  MODE_SERVER,
  fromNtpTimestamp,
  isZeroTimestamp,
  offsetAndDelay,
  parseSntpPacket,
} from '../../src/services/time/sntp.js';
import { TimeServer } from '../../src/services/time/server.js';
import { Rng, fnv1a, randomChunks } from './mutate.js';

/** A broken invariant (split mismatch, a bound exceeded): always a crash, named by `reason`. */
export class InvariantError extends Error {
  override name = 'InvariantError';

  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Target {
  /** Directory under test/corpus/. */
  readonly name: string;
  readonly description: string;
  /** Largest input the mutator makes for this target (bytes). */
  readonly maxInput: number;
  /** Where the JSON text sits in an input, for JSON-aware mutations. */
  readonly json?: {
    extract(input: Buffer): string | undefined;
    wrap(text: string): Buffer;
  };
  /** Runs the parser(s); returns a short description of the outcome. */
  run(input: Buffer): string;
}

/** Runs `fn`; a SockitError with a known code becomes `error:CODE`, anything else propagates. */
function outcome(fn: () => string): string {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SockitError && isErrorCode(err.code)) return `error:${err.code}`;
    throw err;
  }
}

function agree(what: string, results: readonly string[]): string {
  const first = results[0] ?? '';
  for (const r of results) {
    if (r !== first) {
      throw new InvariantError(
        'split-mismatch',
        `${what}: decodings disagree: ${results.map((x) => x.slice(0, 120)).join(' | ')}`,
      );
    }
  }
  return first;
}

/** The three chunkings of a stream target's input. */
function chunkings(input: Buffer): Buffer[][] {
  const ways = [[input], randomChunks(input, new Rng(fnv1a(input)))];
  if (input.length <= 2048) ways.push(Array.from(input, (_, i) => input.subarray(i, i + 1)));
  return ways;
}

const hash = (b: Uint8Array): string => fnv1a(b).toString(16);

// ---------------------------------------------------------------------------
// Framing

function decodeFrames(
  chunks: readonly Buffer[],
  maxFrame: number,
  byteOrder: 'u32be' | 'u32le',
): string {
  const frames: string[] = [];
  const decoder = new FrameDecoder(
    (payload) => {
      frames.push(`${payload.length}:${hash(payload)}`);
    },
    { maxFrame, byteOrder },
  );
  const result = outcome(() => {
    for (const chunk of chunks) {
      const used = decoder.push(chunk);
      if (used !== chunk.length)
        throw new InvariantError('frame-used', `push used ${used} of ${chunk.length}`);
      if (decoder.bufferedBytes > maxFrame + 4) {
        throw new InvariantError(
          'frame-buffered',
          `${decoder.bufferedBytes} bytes held above maxFrame + 4`,
        );
      }
    }
    decoder.end();
    return 'end';
  });
  return `${frames.join(',')} ${result}`;
}

const frame: Target = {
  name: 'frame',
  description: 'FrameDecoder: u32be and u32le, maxFrame 16 MiB and 1 KiB, three chunkings',
  maxInput: 16 * 1024,
  run(input) {
    const ways = chunkings(input);
    return [
      agree(
        'u32be 16M',
        ways.map((c) => decodeFrames(c, 16 * 1024 * 1024, 'u32be')),
      ),
      agree(
        'u32be 1K',
        ways.map((c) => decodeFrames(c, 1024, 'u32be')),
      ),
      agree(
        'u32le 1K',
        ways.map((c) => decodeFrames(c, 1024, 'u32le')),
      ),
    ].join(' / ');
  },
};

// ---------------------------------------------------------------------------
// Envelopes

/** A JSON header as a framed envelope: the JSON-aware mutations edit the text between. */
const framedJson = {
  extract(input: Buffer): string | undefined {
    if (input.length < 4) return undefined;
    const n = input.readUInt32BE(0);
    return n === input.length - 4 ? input.subarray(4).toString('utf8') : undefined;
  },
  wrap(text: string): Buffer {
    const body = Buffer.from(text);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  },
};

const plainJson = {
  extract: (input: Buffer): string => input.toString('utf8'),
  wrap: (text: string): Buffer => Buffer.from(text),
};

const describeHeader = (h: EnvelopeHeader): string =>
  `${h.type.slice(0, 16)}/${h.size ?? '-'}/${Object.keys(h).length}`;

const envelopeHeader: Target = {
  name: 'envelope-header',
  description: 'parseEnvelopeHeader on one header payload (JSON text), default 64 KiB limit',
  maxInput: 70 * 1024,
  json: plainJson,
  run(input) {
    const before = ({} as Record<string, unknown>).polluted;
    const result = outcome(() => describeHeader(parseEnvelopeHeader(input)));
    if (
      ({} as Record<string, unknown>).polluted !== before ||
      Object.prototype.hasOwnProperty.call(Object.prototype, 'type')
    ) {
      throw new InvariantError(
        'proto-pollution',
        'Object.prototype changed while parsing a header',
      );
    }
    return result;
  },
};

function decodeEnvelopes(chunks: readonly Buffer[]): string {
  const events: string[] = [];
  let bodyBytes = 0;
  let bodyHash = 0x811c9dc5;
  const decoder = new EnvelopeDecoder(
    {
      onHeader: (h) => events.push(`H${describeHeader(h)}`),
      onBody: (piece) => {
        bodyBytes += piece.length;
        for (const b of piece) bodyHash = Math.imul(bodyHash ^ b, 0x01000193) >>> 0;
      },
      onBodyEnd: () => {
        events.push(`B${bodyBytes}:${bodyHash.toString(16)}`);
        bodyBytes = 0;
        bodyHash = 0x811c9dc5;
      },
    },
    { maxHeader: 4096 },
  );
  const result = outcome(() => {
    for (const chunk of chunks) decoder.push(chunk);
    decoder.end();
    return 'end';
  });
  return `${events.join(',')} ${result}`;
}

const envelopeStream: Target = {
  name: 'envelope-stream',
  description: 'EnvelopeDecoder (headers ≤ 4 KiB, bodies streamed), three chunkings',
  maxInput: 16 * 1024,
  json: framedJson,
  run(input) {
    return agree('envelopes', chunkings(input).map(decodeEnvelopes));
  },
};

// ---------------------------------------------------------------------------
// Text lines and chat

function decodeLines(
  chunks: readonly Buffer[],
  maxLine: number,
  each: (line: Buffer) => string,
): string {
  const lines: string[] = [];
  const decoder = new LineDecoder(
    (line) => {
      lines.push(each(line));
    },
    { maxLine },
  );
  const result = outcome(() => {
    for (const chunk of chunks) {
      decoder.push(chunk);
      if (decoder.bufferedBytes > maxLine) {
        throw new InvariantError(
          'line-buffered',
          `${decoder.bufferedBytes} bytes held above maxLine`,
        );
      }
    }
    decoder.end();
    return 'end';
  });
  return `${lines.join(',')} ${result}`;
}

/** What the chat server does with one text line (server.ts actText): parse, then check names and sizes. */
function chatLine(line: Buffer): string {
  return outcome(() => {
    const command = parseTextLine(line.toString('utf8'));
    switch (command.kind) {
      case 'say':
        checkText(command.text);
        break;
      case 'nick':
        checkNick(command.nick);
        break;
      case 'join':
        canonicalRoom(command.room);
        break;
      case 'part':
      case 'who':
        if (command.room !== undefined) canonicalRoom(command.room);
        break;
      case 'msg':
        checkNick(command.to);
        checkText(command.text);
        break;
      default:
        break;
    }
    return command.kind;
  });
}

const chatLines: Target = {
  name: 'chat-line',
  description: 'LineDecoder (8 KiB lines) + parseTextLine + nick/room/text checks, three chunkings',
  maxInput: 20 * 1024,
  run(input) {
    return agree(
      'chat lines',
      chunkings(input).map((c) => decodeLines(c, DEFAULT_MAX_CHAT_LINE, chatLine)),
    );
  },
};

const chatRequest: Target = {
  name: 'chat-request',
  description:
    'a chat envelope header: parseEnvelopeHeader + parseChatRequest + nick/room/text checks',
  maxInput: 16 * 1024,
  json: plainJson,
  run(input) {
    return outcome(() => {
      const request = parseChatRequest(parseEnvelopeHeader(input));
      if ('nick' in request && request.nick !== undefined) checkNick(request.nick);
      if ('to' in request) checkNick(request.to);
      if ('room' in request && request.room !== undefined) canonicalRoom(request.room);
      if (request.type === 'say' || request.type === 'msg') checkText(request.text);
      return request.type;
    });
  },
};

const textNotice: Target = {
  name: 'text-notice',
  description: 'parseTextNotice: the `error CODE: message` line clients read before a close',
  maxInput: 4 * 1024,
  run(input) {
    const notice = parseTextNotice(input);
    return notice ? `${notice.code}:${notice.message.length}` : 'none';
  },
};

// ---------------------------------------------------------------------------
// exec

const execRequest: Target = {
  name: 'exec-request',
  description:
    'an exec envelope header: parseEnvelopeHeader + run/stdin/eof/signal schemas (session.ts)',
  maxInput: 70 * 1024,
  json: plainJson,
  run(input) {
    return outcome(() => {
      const header = parseEnvelopeHeader(input);
      const schema =
        header.type === 'run'
          ? runRequestSchema
          : header.type === 'stdin'
            ? stdinSchema
            : header.type === 'eof'
              ? eofSchema
              : header.type === 'signal'
                ? signalSchema
                : undefined;
      if (schema === undefined) return `unknown:${(header.size ?? 0) > 0 ? 'body' : 'nobody'}`;
      const parsed = v.safeParse(schema, header);
      if (!parsed.success) return `BAD_REQUEST:${header.type}`;
      if (header.type === 'run') {
        const run = v.parse(runRequestSchema, header);
        const loaders = Object.keys(run.env ?? {}).filter(isLoaderVariable).length;
        return `run:${run.argv ? `argv${run.argv.length}` : 'shell'}:env${loaders}`;
      }
      return header.type;
    });
  },
};

// ---------------------------------------------------------------------------
// files

const filesSchemas: Record<string, v.GenericSchema> = {
  put: putRequestSchema,
  [TUTORIAL_PUT]: tutorialPutSchema,
  commit: commitSchema,
  get: getRequestSchema,
  stat: statRequestSchema,
  list: listRequestSchema,
};

const filesHeader: Target = {
  name: 'files-header',
  description:
    'a files header: parseEnvelopeHeader with tutorialNormalizer + request schemas + checkName',
  maxInput: 70 * 1024,
  json: plainJson,
  run(input) {
    return outcome(() => {
      const header = parseEnvelopeHeader(input, { normalize: tutorialNormalizer });
      const schema = filesSchemas[header.type];
      if (schema === undefined) return 'unknown';
      const parsed = v.safeParse(schema, header);
      if (!parsed.success) return `BAD_REQUEST:${header.type}`;
      const data = parsed.output as { name?: unknown; prefix?: unknown };
      const name = data.name ?? data.prefix;
      if (typeof name === 'string') {
        escapeName(name);
        foldName(name);
        return `${header.type}:${checkName(name).length}`;
      }
      return header.type;
    });
  },
};

const filesName: Target = {
  name: 'files-name',
  description: 'checkName / escapeName / foldName on a name given as UTF-8 bytes',
  maxInput: 8 * 1024,
  run(input) {
    const name = input.toString('utf8');
    escapeName(name);
    foldName(name);
    return outcome(() => `${checkName(name).length}`);
  },
};

// ---------------------------------------------------------------------------
// Time

type TimeServerInternals = {
  answerSntp(message: Buffer, host: string): Buffer;
  formatTime(message: Buffer): Buffer;
};

let timeServer: TimeServerInternals | undefined;

/**
 * The time server's own datagram handlers, without sockets: the constructor
 * opens nothing until listen(). They are private, so reached by name; if they
 * are renamed this target fails loudly rather than fuzzing nothing.
 */
function timeHandlers(): TimeServerInternals {
  if (timeServer === undefined) {
    const server = new TimeServer({
      clock: () => 1_700_000_000_123.456,
    }) as unknown as TimeServerInternals;
    if (typeof server.answerSntp !== 'function' || typeof server.formatTime !== 'function') {
      throw new Error('TimeServer.answerSntp / formatTime not found: update test/fuzz/targets.ts');
    }
    timeServer = server;
  }
  return timeServer;
}

/** What the SNTP client (client.ts sntp()) does with a reply, minus the socket. */
function sntpClientCheck(reply: Buffer): string {
  const packet = parseSntpPacket(reply);
  if (packet.mode !== MODE_SERVER) throw new ProtocolError('BAD_REPLY', 'mode');
  if (packet.stratum === 0) throw new ProtocolError('KISS_OF_DEATH', 'kiss');
  if (packet.leap === 3) throw new ProtocolError('BAD_REPLY', 'leap');
  if (isZeroTimestamp(packet.transmit)) throw new ProtocolError('BAD_REPLY', 'zero transmit');
  const t1 = 1_700_000_000_000;
  const { offsetMs, delayMs } = offsetAndDelay(
    t1,
    fromNtpTimestamp(packet.receive),
    fromNtpTimestamp(packet.transmit),
    t1 + 5,
  );
  if (!Number.isFinite(offsetMs) || !Number.isFinite(delayMs)) {
    throw new InvariantError('sntp-nonfinite', `offset ${offsetMs} delay ${delayMs}`);
  }
  if (!Number.isFinite(2 ** packet.precision * 1000))
    throw new InvariantError('sntp-precision', 'precision');
  return `ok:${packet.stratum}`;
}

const sntp: Target = {
  name: 'sntp',
  description:
    'SNTP: the server handler (answerSntp) on requests, and the client checks on replies',
  maxInput: 1024,
  run(input) {
    const server = outcome(() => {
      const reply = timeHandlers().answerSntp(input, '192.0.2.1');
      if (reply.length !== 48)
        throw new InvariantError('sntp-reply-size', `${reply.length}-byte reply`);
      if (!reply.subarray(24, 32).equals(input.subarray(40, 48))) {
        throw new InvariantError('sntp-origin', 'the reply does not echo the transmit timestamp');
      }
      return `answered:${reply[1] ?? 0}`;
    });
    const client = outcome(() => sntpClientCheck(input));
    return `${server} ${client}`;
  },
};

const timeDatagram: Target = {
  name: 'time-datagram',
  description: 'RFC 868 / unix32 replies (client side) and strftime requests (server formatTime)',
  maxInput: 1024,
  run(input) {
    const seconds = outcome(() => {
      if (input.length !== 4) throw new ProtocolError('BAD_REPLY', `${input.length} bytes, not 4`);
      return `${decodeRfc868(input)}/${decodeUnix32(input)}`;
    });
    const strftime = outcome(() => {
      const reply = timeHandlers().formatTime(input);
      // UdpServer drops replies above 512 bytes (counted replyTooLarge); this bounds the work.
      if (reply.length > 64 * 1024)
        throw new InvariantError('strftime-reply', `${reply.length}-byte reply`);
      return `${reply.length}`;
    });
    return `${seconds} ${strftime}`;
  },
};

// ---------------------------------------------------------------------------
// messenger

const messenger: Target = {
  name: 'messenger',
  description: 'decodeDatagram: messenger msg/ack JSON and plain text datagrams',
  maxInput: 10 * 1024,
  json: plainJson,
  run(input) {
    return outcome(() => {
      const d = decodeDatagram(input);
      return d.kind;
    });
  },
};

export const TARGETS: readonly Target[] = [
  frame,
  envelopeHeader,
  envelopeStream,
  chatLines,
  chatRequest,
  textNotice,
  execRequest,
  filesHeader,
  filesName,
  sntp,
  timeDatagram,
  messenger,
];

export function targetByName(name: string): Target {
  const found = TARGETS.find((t) => t.name === name);
  if (!found)
    throw new Error(`no fuzz target "${name}" (have: ${TARGETS.map((t) => t.name).join(', ')})`);
  return found;
}
