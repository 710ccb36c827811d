export { ExecServer } from './server.js';
export type { ExecServerOptions } from './server.js';
export { ExecClient } from './client.js';
export type { ExecClientOptions, RunIo, RunOptions } from './client.js';
export {
  EXEC_PORT,
  EXIT_CANNOT_EXECUTE,
  EXIT_NOT_FOUND,
  EXIT_SOCKIT_FAILURE,
  FORWARDED_SIGNALS,
  exitCodeOf,
} from './messages.js';
export type { ExitEvent, ForwardedSignal, KillReason } from './messages.js';
