export { ChatServer } from './server.js';
export type { ChatConnection, ChatRateLimit, ChatServerOptions, ChatStats } from './server.js';
export { LocalChatBus } from './local-bus.js';
export type { LocalChatBusOptions } from './local-bus.js';
export { RedisChatBus } from './redis-bus.js';
export type { RedisChatBusOptions, RedisChatBusStats } from './redis-bus.js';
export type {
  BusPresenceEvent,
  BusPrivateMessage,
  BusRoomMessage,
  ChatBus,
  ChatBusHandlers,
  MaybePromise,
} from './bus.js';
export { ChatClient } from './client.js';
export type { ChatClientOptions } from './client.js';
export {
  CHAT_PORT,
  DEFAULT_CHAT_MAX_QUEUE,
  DEFAULT_MAX_CHAT_LINE,
  DEFAULT_MAX_TEXT,
  DEFAULT_ROOM,
  MAX_NICK_LENGTH,
  MAX_ROOM_LENGTH,
  MAX_ROOMS_PER_CLIENT,
  TEXT_HELP,
  canonicalRoom,
  chatRequestSchema,
  checkNick,
  checkText,
  escapeText,
  formatTextEvent,
  nickKey,
  parseChatRequest,
  parseTextLine,
} from './messages.js';
export type {
  ChatErrorEvent,
  ChatEvent,
  ChatJoinedEvent,
  ChatLeftEvent,
  ChatMessageEvent,
  ChatNickEvent,
  ChatPingEvent,
  ChatRequest,
  ChatRosterEvent,
  ChatWelcomeEvent,
  TextCommand,
} from './messages.js';
