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
} from './bus.js';
export { ChatClient } from './client.js';
export type { ChatClientOptions } from './client.js';
export { CHAT_PORT, escapeText } from './messages.js';
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
} from './messages.js';
export type { MaybePromise } from './bus.js';
