export { ExecServer } from './server.js';
export type { ExecServerOptions } from './server.js';
export { ExecClient } from './client.js';
export type { ExecClientOptions, RunIo, RunOptions } from './client.js';
export { EXEC_PORT } from './messages.js';
export type { ExitEvent, ForwardedSignal, KillReason } from './messages.js';
