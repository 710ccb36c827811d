export { EchoServer } from './server.js';
export type { EchoServerOptions, EchoListen } from './server.js';
export { EchoClient, EchoUdpClient } from './client.js';
export type { EchoClientOptions } from './client.js';
export { ECHO_PORT, REPLY_MODES } from './messages.js';
export type { ReplyMode } from './messages.js';
