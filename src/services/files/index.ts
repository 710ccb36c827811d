export { FilesServer, isLoopback } from './server.js';
export type { FilesServerOptions } from './server.js';
export { FilesClient } from './client.js';
export type {
  FilesClientOptions,
  GetOptions,
  GetResult,
  Progress,
  PutOptions,
  PutResult,
  PutTreeEvent,
  PutTreeOptions,
  PutTreeResult,
  TreeFile,
} from './client-options.js';
export {
  DOWNLOAD_PARTIAL_SUFFIX,
  FILES_PORT,
  MAX_NAME_BYTES,
  MAX_NAME_COMPONENT_BYTES,
  PARTIAL_DIR,
  checkName,
  escapeName,
  foldName,
  formatBytes,
  isValidName,
  tutorialNormalizer,
} from './messages.js';
export type { ListEntry, StatReply } from './messages.js';
