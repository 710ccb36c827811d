// What sockit's CLI, tests and benches use of the chat service beyond its
// public entry (index.ts): not in package.json "exports", so it may change
// without a major version.

export {
  canonicalRoom,
  chatRequestSchema,
  checkNick,
  checkText,
  DEFAULT_CHAT_MAX_QUEUE,
  DEFAULT_MAX_CHAT_LINE,
  DEFAULT_MAX_TEXT,
  DEFAULT_ROOM,
  formatTextEvent,
  MAX_NICK_LENGTH,
  MAX_ROOM_LENGTH,
  MAX_ROOMS_PER_CLIENT,
  nickKey,
  parseChatRequest,
  parseTextLine,
  TEXT_HELP,
} from './messages.js';
export type { TextCommand } from './messages.js';
export { MAX_PENDING_SAYS } from './limits.js';
export { ChatHub, WORKER_LOST } from './hub.js';
export type { ChatHubOptions, ChatHubStats } from './hub.js';
export { IpcChatBus } from './ipc-bus.js';
export type { IpcChatBusOptions, IpcChatBusStats } from './ipc-bus.js';
export type { IpcEndpoint } from './ipc-channel.js';
