export { MessengerPeer } from './peer.js';
export type { Delivery, IncomingMessage, MessengerPeerOptions, MessengerStats } from './peer.js';
export { MESSENGER_PORT } from './messages.js';
export type { MessengerDatagram } from './messages.js';
export type { RetrySchedule } from './messages.js';
