import * as v from 'valibot';
import { ServiceError } from '../../errors.js';
import { MAX_BODY_SIZE } from '../../limits.js';
import { FILES_PORT } from '../../ports.js';

/** Default port (src/ports.ts, SPEC §2). */
export { FILES_PORT };

/** Longest name component, in UTF-8 bytes (what ext4, XFS, btrfs and NTFS allow). */
export const MAX_NAME_COMPONENT_BYTES = 255;
/** Longest whole name, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_NAME_BYTES = 4096;
/** Deepest subpath accepted (components). */
export const MAX_NAME_DEPTH = 64;

/**
 * The first component reserved for the server's partial uploads. No client
 * name may start with it, in any case or Unicode form.
 */
export const PARTIAL_DIR = '.sockit-partial';

/** Suffix of the client's own partial download, beside the output file. */
export const DOWNLOAD_PARTIAL_SUFFIX = '.sockit-part';

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const HEX_MD5 = /^[0-9a-f]{32}$/;

/** Device names Windows resolves in every directory, with any extension. */
const DEVICE_NAMES = new Set([
  'CON',
  'PRN',
  'AUX',
  'NUL',
  'CONIN$',
  'CONOUT$',
  'CLOCK$',
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9, '¹', '²', '³'].flatMap((n) => [`COM${n}`, `LPT${n}`]),
]);

/**
 * Characters refused anywhere in a name: C0 and C1 controls and DEL (terminal
 * escapes, log forging), the bidirectional overrides and isolates (a name that
 * reads differently than it sorts), and the byte-order mark.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;

/** No lone UTF-16 surrogates (String#isWellFormed, not in the ES2022 lib types). */
function isWellFormed(text: string): boolean {
  return !/\p{Surrogate}/u.test(text);
}

function badName(reason: string): ServiceError {
  return new ServiceError('BAD_NAME', reason);
}

function checkComponent(part: string, index: number): void {
  const where = `name component ${index + 1}`;
  if (part === '') throw badName(`${where} is empty (a leading, trailing or doubled "/")`);
  if (part === '.' || part === '..') throw badName(`${where} is "${part}"`);
  if (part.includes('\\')) throw badName(`${where} contains a backslash`);
  if (/^[A-Za-z]:/.test(part)) throw badName(`${where} starts with a drive letter`);
  if (part.endsWith('.') || part.endsWith(' ')) {
    throw badName(`${where} ends with a dot or a space`);
  }
  if (Buffer.byteLength(part) > MAX_NAME_COMPONENT_BYTES) {
    throw badName(`${where} is longer than ${MAX_NAME_COMPONENT_BYTES} bytes`);
  }
  // What a Unicode-normalising layer (a filesystem, an archiver, a shell) could turn it into:
  // "．．／" and "‥" become "../" and "..".
  const compat = part.normalize('NFKC');
  if (compat === '.' || compat === '..' || /[/\\]/.test(compat) || FORBIDDEN_CHARS.test(compat)) {
    throw badName(`${where} reads as a path separator or "..", once normalised`);
  }
  const base = (compat.split('.')[0] ?? '').trimEnd().toUpperCase();
  if (DEVICE_NAMES.has(base)) throw badName(`${where} is a device name`);
}

/**
 * Checks a name as SPEC §2.4 says, and returns its components. A name is a
 * relative, `/`-separated path; every component is checked. Refused with
 * BAD_NAME: absolute paths, empty, `.` and `..` components, backslashes,
 * drive letters, NUL and control characters, bidi controls, names not in
 * Unicode NFC, components that NFKC turns into a separator or `..`, Windows
 * device names (CON, NUL, COM1…, with any extension), a trailing dot or
 * space, more than 255 bytes per component or 4096 in all, the reserved
 * first component `.sockit-partial`. The same rules apply to names a server
 * sends back (`get`, `list`).
 */
export function checkName(name: unknown): string[] {
  if (typeof name !== 'string') throw badName('name must be a string');
  if (name === '') throw badName('name is empty');
  if (!isWellFormed(name)) throw badName('name is not valid Unicode');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw badName(`name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  if (FORBIDDEN_CHARS.test(name)) throw badName('name contains a control character');
  if (name.startsWith('/')) throw badName('name is an absolute path');
  if (name.normalize('NFC') !== name) throw badName('name is not in Unicode NFC form');
  const parts = name.split('/');
  if (parts.length > MAX_NAME_DEPTH) throw badName(`name is deeper than ${MAX_NAME_DEPTH} levels`);
  parts.forEach(checkComponent);
  if (foldName(parts[0] as string) === foldName(PARTIAL_DIR)) {
    throw badName(`"${PARTIAL_DIR}" is reserved`);
  }
  return parts;
}

/** Whether `name` passes `checkName`. */
export function isValidName(name: unknown): boolean {
  try {
    checkName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The key two names collide under: NFKC, then full case folding (upper then
 * lower, so "ß" meets "ss"), then NFKC again. "é" (NFC) and "é" (NFD), "ﬁle"
 * and "file", "README" and "readme" share a key.
 */
export function foldName(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/**
 * A name as it may be shown on a terminal or in a log: control characters,
 * bidi controls and backslashes escaped (`\x1b`, `\u202e`, `\\`), so a
 * hostile name cannot move the cursor or recolour the screen (croc
 * CVE-2023-43620).
 */
export function escapeName(name: string): string {
  let out = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (FORBIDDEN_CHARS.test(ch) || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
    } else out += ch;
  }
  return out;
}

const nameField = v.pipe(v.string(), v.maxLength(MAX_NAME_BYTES * 2));
const sizeField = v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_BODY_SIZE));
const sha256Field = v.pipe(v.string(), v.regex(HEX_SHA256));
/** Any finite number (JSON's 1e999 parses to Infinity). */
const finiteNumber = v.pipe(v.number(), v.finite());

export const putRequestSchema = v.object({
  type: v.literal('put'),
  name: nameField,
  /** The body's length, as in every envelope; the file is `offset + size` bytes. */
  size: sizeField,
  /** Absent: the client sends `{"type":"commit","sha256"}` after the body instead. */
  sha256: v.optional(sha256Field),
  offset: v.optional(sizeField),
  overwrite: v.optional(v.boolean()),
});
export type PutRequest = v.InferOutput<typeof putRequestSchema>;

/** The header a tutorial client sends, after `tutorialNormalizer`. */
export const TUTORIAL_PUT = 'tutorial_put';
export const tutorialPutSchema = v.object({
  type: v.literal(TUTORIAL_PUT),
  name: nameField,
  size: sizeField,
  md5: v.optional(v.pipe(v.string(), v.regex(HEX_MD5))),
});
export type TutorialPut = v.InferOutput<typeof tutorialPutSchema>;

export const commitSchema = v.object({
  type: v.literal('commit'),
  sha256: sha256Field,
});

export const getRequestSchema = v.object({
  type: v.literal('get'),
  name: nameField,
  offset: v.optional(sizeField),
});
export type GetRequest = v.InferOutput<typeof getRequestSchema>;

export const statRequestSchema = v.object({ type: v.literal('stat'), name: nameField });
export const listRequestSchema = v.object({
  type: v.literal('list'),
  /** Only names under this directory (a valid name). */
  prefix: v.optional(nameField),
});

/** Replies, as a client checks them. */
export const continueReplySchema = v.looseObject({
  type: v.literal('continue'),
  offset: sizeField,
});
/**
 * Replies never use `size` for a file's length: in an envelope `size` is the
 * length of the body that follows (SPEC §1.2). They say `fileSize`.
 */
export const okReplySchema = v.looseObject({
  type: v.literal('ok'),
  name: v.string(),
  fileSize: sizeField,
  sha256: sha256Field,
});
export const statReplySchema = v.looseObject({
  type: v.literal('stat'),
  name: v.string(),
  fileSize: v.optional(sizeField),
  mtimeMs: v.optional(finiteNumber),
  partial: v.optional(sizeField),
});
/** The server's answer to `stat` for one name (docs/FILES.md). */
export type StatReply = v.InferOutput<typeof statReplySchema>;
export const fileReplySchema = v.looseObject({
  type: v.literal('file'),
  name: v.string(),
  size: sizeField,
  total: sizeField,
  offset: sizeField,
});
export const doneReplySchema = v.looseObject({
  type: v.literal('done'),
  sha256: sha256Field,
});
export const entryReplySchema = v.looseObject({
  type: v.literal('entry'),
  name: v.string(),
  fileSize: sizeField,
  mtimeMs: finiteNumber,
});
/** One stored file in a listing: name, size, modification time. */
export type ListEntry = { name: string; size: number; mtimeMs: number };
export const endReplySchema = v.looseObject({ type: v.literal('end'), count: finiteNumber });

/**
 * Maps the tutorial header (`{"file_name","file_size","md5"?}`, no `type`)
 * to a `tutorial_put` request; every other header passes unchanged.
 */
export function tutorialNormalizer(raw: Record<string, unknown>): Record<string, unknown> {
  if ('type' in raw || !('file_name' in raw)) return raw;
  const out: Record<string, unknown> = {
    type: TUTORIAL_PUT,
    name: raw.file_name,
    size: raw.file_size,
  };
  if (typeof raw.md5 === 'string') out.md5 = raw.md5.toLowerCase();
  else if (raw.md5 !== undefined) out.md5 = raw.md5;
  return out;
}

/** `1.5 GiB`, `12.0 MiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(bytes)} B` : `${value.toFixed(1)} ${units[unit] as string}`;
}
