import * as v from 'valibot';
import { ProtocolError } from '../errors.js';
import { DEFAULT_MAX_HEADER, MAX_BODY_SIZE } from '../limits.js';
import type { ByteOrder } from './byte-order.js';
import { FrameDecoder } from './frame-decoder.js';
import { checkFrameLength, writeFrameHeader } from './frame-encoder.js';
import { FRAME_HEADER_BYTES } from './byte-order.js';
import { describeIssue } from './schema-issue.js';

/**
 * SPEC §1.2: an envelope is one frame whose payload is a JSON object (the
 * header, with a string `type`), followed by exactly `size` raw body bytes.
 * Services narrow `EnvelopeHeader` with their own schemas.
 */
export interface EnvelopeHeader {
  type: string;
  /** Body length in bytes, 0 ≤ size ≤ 2^53 − 1; absent means no body. */
  size?: number | undefined;
  [key: string]: unknown;
}

/** Longest `type` string accepted (characters). */
const MAX_TYPE_LENGTH = 64;

export const envelopeHeaderSchema = v.looseObject({
  type: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_TYPE_LENGTH)),
  size: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_BODY_SIZE))),
});

/** Keys that could reach an object's prototype if a header were ever merged. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest object/array nesting a header may have; headers are flat records. */
const MAX_HEADER_DEPTH = 32;

/** Nesting depth of JSON text, skipping strings; stops counting past the limit. */
function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function rejectForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key))
    throw new ProtocolError('BAD_HEADER', `header key "${key}" is not allowed`);
  return value;
}

/**
 * Turns a plain JSON object into an envelope header, before validation. The
 * files service uses it to accept the tutorial header (`file_name`, no `type`).
 */
export type HeaderNormalizer = (raw: Record<string, unknown>) => Record<string, unknown>;

/**
 * Parses and validates one header payload. The size is checked before the
 * text is decoded, the UTF-8 must be valid (a BOM is not JSON), the top level
 * must be an object, and prototype keys are refused at any depth.
 */
export function parseEnvelopeHeader(
  payload: Uint8Array,
  options: { maxHeader?: number; normalize?: HeaderNormalizer } = {},
): EnvelopeHeader {
  const maxHeader = options.maxHeader ?? DEFAULT_MAX_HEADER;
  if (payload.length > maxHeader) {
    throw new ProtocolError(
      'HEADER_TOO_LARGE',
      `header of ${payload.length} bytes exceeds the limit of ${maxHeader} bytes`,
    );
  }
  let parsed: unknown;
  try {
    const text = utf8.decode(payload);
    // JSON.parse with a reviver recurses; refuse deep nesting before it can overflow the stack.
    if (nestingExceeds(text, MAX_HEADER_DEPTH)) {
      throw new ProtocolError('BAD_HEADER', `header nested deeper than ${MAX_HEADER_DEPTH} levels`);
    }
    parsed = JSON.parse(text, rejectForbiddenKeys);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('BAD_HEADER', 'header is not valid UTF-8 JSON', { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ProtocolError('BAD_HEADER', 'header must be a JSON object');
  }
  const raw = options.normalize ? options.normalize(parsed as Record<string, unknown>) : parsed;
  const result = v.safeParse(envelopeHeaderSchema, raw);
  if (!result.success) {
    throw new ProtocolError('BAD_HEADER', `bad ${describeIssue(result.issues[0], 'header')}`);
  }
  return result.output;
}

/** Options of {@link encodeEnvelopeHeader}: byte order and the header bound. */
export interface EnvelopeEncodeOptions {
  maxHeader?: number;
  byteOrder?: ByteOrder;
}

/**
 * Encodes a header as one frame. The body (if `size` > 0) is written by the
 * caller right after it, unframed and streamed.
 */
export function encodeEnvelopeHeader(
  header: EnvelopeHeader,
  options: EnvelopeEncodeOptions = {},
): Buffer {
  const size = header.size;
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new ProtocolError(
      'BAD_HEADER',
      `envelope size must be a non-negative safe integer, got ${String(size)}`,
    );
  }
  const json = JSON.stringify(header);
  const length = Buffer.byteLength(json);
  const maxHeader = options.maxHeader ?? DEFAULT_MAX_HEADER;
  if (length > maxHeader) {
    throw new ProtocolError(
      'HEADER_TOO_LARGE',
      `header of ${length} bytes exceeds the limit of ${maxHeader} bytes`,
    );
  }
  checkFrameLength(length, maxHeader);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(out, 0, length, options.byteOrder);
  out.write(json, FRAME_HEADER_BYTES, 'utf8');
  return out;
}

/** What an EnvelopeDecoder reports, in stream order. */
export interface EnvelopeHandlers {
  onHeader(header: EnvelopeHeader): void;
  /** A piece of the current body: a view on the pushed chunk. */
  onBody?(chunk: Buffer): void;
  /** The current body is complete (only for envelopes with size > 0). */
  onBodyEnd?(): void;
}

/** Options of {@link EnvelopeDecoder}: byte order, header and body bounds. */
export interface EnvelopeDecoderOptions {
  /** @default 64 KiB */
  maxHeader?: number;
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  normalize?: HeaderNormalizer;
}

/**
 * Push decoder for a stream of envelopes: header frames decoded by a
 * FrameDecoder bounded at `maxHeader`, bodies passed through as views without
 * ever being held whole, so a body may be far larger than memory.
 */
export class EnvelopeDecoder {
  private readonly handlers: EnvelopeHandlers;
  private readonly frames: FrameDecoder;
  private readonly normalize: HeaderNormalizer | undefined;
  private bodyRemaining = 0;
  private bodySize = 0;

  constructor(handlers: EnvelopeHandlers, options: EnvelopeDecoderOptions = {}) {
    this.handlers = handlers;
    this.normalize = options.normalize;
    this.frames = new FrameDecoder((payload) => this.onHeaderFrame(payload), {
      maxFrame: options.maxHeader ?? DEFAULT_MAX_HEADER,
      byteOrder: options.byteOrder ?? 'u32be',
    });
  }

  /** The header limit; a service may tighten it (e.g. before authentication). */
  get maxHeader(): number {
    return this.frames.maxFrame;
  }

  set maxHeader(bytes: number) {
    this.frames.maxFrame = bytes;
  }

  /** Whether an envelope (header or body) is part-way through. */
  get inMessage(): boolean {
    return this.bodyRemaining > 0 || this.frames.inFrame;
  }

  /** Body bytes still expected for the current envelope. */
  get bodyBytesRemaining(): number {
    return this.bodyRemaining;
  }

  push(chunk: Buffer): void {
    let off = 0;
    const end = chunk.length;
    while (off < end) {
      if (this.bodyRemaining > 0) {
        const take = Math.min(this.bodyRemaining, end - off);
        const piece = off === 0 && take === end ? chunk : chunk.subarray(off, off + take);
        off += take;
        this.bodyRemaining -= take;
        this.handlers.onBody?.(piece);
        if (this.bodyRemaining === 0) this.handlers.onBodyEnd?.();
        continue;
      }
      off += this.frames.push(off === 0 ? chunk : chunk.subarray(off));
    }
  }

  /** End of stream: INCOMPLETE if an envelope was cut short. */
  end(): void {
    if (this.bodyRemaining > 0) {
      const got = this.bodySize - this.bodyRemaining;
      this.bodyRemaining = 0;
      throw new ProtocolError(
        'INCOMPLETE',
        `stream ended ${got} bytes into a ${this.bodySize}-byte body`,
      );
    }
    this.frames.end();
  }

  private onHeaderFrame(payload: Buffer): boolean {
    const header = parseEnvelopeHeader(payload, {
      maxHeader: this.frames.maxFrame,
      ...(this.normalize ? { normalize: this.normalize } : {}),
    });
    const size = header.size ?? 0;
    this.bodySize = size;
    this.bodyRemaining = size;
    this.handlers.onHeader(header);
    // Stop framing: the bytes after a header with a body are body bytes.
    return size === 0;
  }
}

/** Builds an error envelope header (SPEC §1.2). */
export function errorHeader(code: string, message: string): EnvelopeHeader {
  return { type: 'error', code, message };
}
