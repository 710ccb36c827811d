import type { ByteOrder } from '../../protocol/byte-order.js';
import type { ConnectOptions } from '../../transport/tcp-client.js';

/** Options of {@link FilesClient}: token, TLS, timeouts. */
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

/** Options of {@link FilesClient.put}: the stored name, resume, overwrite, progress. */
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

/** What an upload stored: the name, its size and sha256 (verified by the server), and the bytes sent from which offset. */
export interface PutResult {
  name: string;
  size: number;
  sha256: string;
  /** Bytes sent in this call (size − offset). */
  sent: number;
  offset: number;
}

/** Options of {@link FilesClient.get}: where to write, resume, overwrite, size cap. */
export interface GetOptions {
  /** Continue `DEST.sockit-part` if it exists. @default false */
  resume?: boolean;
  /** Replace DEST if it exists. @default false */
  overwrite?: boolean;
  /** Refuse a file the server says is larger (bytes). @default unlimited */
  maxSize?: number;
  onProgress?: Progress;
}

/** What a download delivered: the name, where it was written, its size and sha256, and the bytes received from which offset. */
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

/** Options of {@link FilesClient.putTree}: the remote name, resume, overwrite, progress and events. */
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

/** What {@link FilesClient.putTree} did: files stored, files failed, entries skipped. */
export interface PutTreeResult {
  /** Files stored, in the order sent. */
  stored: PutResult[];
  /** Files that failed; each is also an `error` event. */
  failed: { file: TreeFile; error: unknown }[];
  /** Symlinks and special files left out. */
  skipped: number;
}
