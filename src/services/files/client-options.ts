import type { ByteOrder } from '../../protocol/byte-order.js';
import type { ConnectOptions } from '../../transport/tcp-client.js';

export interface FilesClientOptions extends ConnectOptions {
  /** The shared token (SPEC §2.3); not needed when the server says auth "none". */
  token?: string;
  /** @default 'u32be' */
  byteOrder?: ByteOrder;
  /** How long each reply may take (ms); a body may take as long as it needs. @default 10 000 */
  timeoutMs?: number;
}

/** Called as bytes move: `done` of `total` (the whole file, resumed bytes included). */
export type Progress = (done: number, total: number) => void;

export interface PutOptions {
  /**
   * Continue an upload the server holds part of: `stat` asks how many bytes
   * its partial has, only the rest is sent, and the server verifies the
   * whole file. With no partial (or one longer than the file) the whole file
   * is sent. @default false
   */
  resume?: boolean;
  /** Resume from a known offset: bytes the server already holds (its `stat().partial`). Not with `resume`. @default 0 */
  offset?: number;
  overwrite?: boolean;
  onProgress?: Progress;
}

export interface PutResult {
  name: string;
  size: number;
  sha256: string;
  /** Bytes sent in this call (size − offset). */
  sent: number;
  offset: number;
}

export interface GetOptions {
  /** Continue `DEST.sockit-part` if it exists. @default false */
  resume?: boolean;
  /** Replace DEST if it exists. @default false */
  overwrite?: boolean;
  /** Refuse a file the server says is larger (bytes). @default unlimited */
  maxSize?: number;
  onProgress?: Progress;
}

export interface GetResult {
  name: string;
  path: string;
  size: number;
  sha256: string;
  /** Bytes received in this call. */
  received: number;
  offset: number;
}

/** A local file `putTree` will send, and the name it gets on the server. */
export interface TreeFile {
  path: string;
  name: string;
}

/** What `putTree` reports as it goes, in order. */
export type PutTreeEvent =
  /** Not sent: a symlink or special file inside a directory. */
  | { type: 'skip'; path: string; reason: 'symlink' | 'not a regular file' }
  | { type: 'start'; file: TreeFile }
  | { type: 'put'; file: TreeFile; result: PutResult }
  | { type: 'error'; file: TreeFile; error: unknown };

export interface PutTreeOptions {
  /** The remote name of the one FILE or DIR given. @default its base name (NFC) */
  as?: string;
  /** Resume each file the server holds part of (see PutOptions.resume). @default false */
  resume?: boolean;
  overwrite?: boolean;
  /** Each file's progress, by its remote name. */
  onProgress?: (name: string, done: number, total: number) => void;
  onEvent?: (event: PutTreeEvent) => void;
}

export interface PutTreeResult {
  /** Files stored, in the order sent. */
  stored: PutResult[];
  /** Files that failed; each is also an `error` event. */
  failed: { file: TreeFile; error: unknown }[];
  /** Symlinks and special files left out. */
  skipped: number;
}
