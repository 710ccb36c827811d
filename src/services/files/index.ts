export { FilesServer } from './server.js';
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
export { FILES_PORT } from './messages.js';
export type { ListEntry, StatReply } from './messages.js';
