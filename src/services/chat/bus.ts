/**
 * The chat bus: everything the broker does that crosses nodes goes through
 * this one interface, so the broker does not know whether it runs alone
 * (`LocalChatBus`, local-bus.ts: today's single process) or as one node of
 * several (a Redis bus: streams per room, nick leases, presence).
 *
 * The broker keeps its own local members (the sockets it writes to); the bus
 * owns what is shared: the order and ids of room messages, room history,
 * which node holds a nick, and the roster of every room.
 *
 * Every call that may need a remote round trip returns `T | Promise<T>`
 * (`MaybePromise`): an in-process bus answers synchronously, so the hot path
 * (one room message to N local members) costs no promise at all, and a
 * remote bus answers asynchronously. A remote bus that cannot do a call
 * rejects it with a `ServiceError` coded `CLUSTER_UNAVAILABLE`; the broker
 * hands that to the client that asked (an error event, the request is not
 * done, the client may send again). Nothing is dropped silently.
 *
 * Ids. Message ids are numbers on the wire (`"id":7`), unique and increasing
 * per room in the room's one order. A Redis stream id `ms-seq` maps to a safe
 * integer as `ms * 4096 + seq` (seq < 4096 per millisecond per stream; ms up
 * to 2^40, year 36812); the in-process bus counts from 1. Private messages
 * take ids from the same space (unique, not ordered against rooms).
 *
 * Delivery. Room messages come back through `ChatBusHandlers.message` on
 * every node that has local members of the room, the sender's node
 * included, each once, in one order per room: the broker fans a message out
 * only when the bus delivers it, never when it publishes it, so the order
 * every member sees is the bus's. The in-process bus delivers synchronously,
 * inside `publish`, before it returns the id.
 */
import type { ServiceError } from '../../errors.js';

/** A value, or a promise of it: in-process buses answer synchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** A room message as the bus stores and delivers it. */
export interface BusRoomMessage {
  /** Assigned by the bus; the room's order. */
  id: number;
  room: string;
  from: string;
  text: string;
  /** Sender's server time, ms since 1970. */
  ts: number;
}

/** A private message on its way to the node holding `to`. */
export interface BusPrivateMessage {
  id: number;
  from: string;
  /** The recipient's nick as its holder spells it. */
  to: string;
  text: string;
  ts: number;
}

/** Presence news from another node (a bus never reports a node's own joins back to it). */
export type BusPresenceEvent =
  | { type: 'joined'; room: string; nick: string; ts: number }
  | { type: 'left'; room: string; nick: string; reason: string; ts: number }
  /** A rename, for the rooms the renamed user is in. */
  | { type: 'nick'; old: string; nick: string; rooms: readonly string[]; ts: number };

/** What a bus calls on the broker. Handlers never throw and never wait. */
export interface ChatBusHandlers {
  /** A room message, in the room's order, once. Also the sender's own, on its node. */
  message(message: BusRoomMessage): void;
  /** A private message for a nick this node holds (see `acquireNick`). */
  private(message: BusPrivateMessage): void;
  /** Someone on another node joined, left or was renamed. */
  presence(event: BusPresenceEvent): void;
  /**
   * This node lost a nick it held (its lease expired while the bus was cut
   * off and another node took it): the broker must not keep two users of one
   * nick, so it renames or drops its local holder.
   */
  nickLost(nick: string): void;
  /**
   * The bus became unreachable (`down`: publishes reject with
   * CLUSTER_UNAVAILABLE) or reachable again (`up`). Reported once per change.
   */
  state(state: 'up' | 'down'): void;
}

/** What crosses chat nodes: room and private messages in one order with ids, nick leases, presence, history. {@link LocalChatBus} is the in-process one. */
export interface ChatBus {
  /** Connects (a remote bus) and starts delivering to `handlers`. Called once, before anything else. */
  start(handlers: ChatBusHandlers): MaybePromise<void>;
  /** Stops delivering, releases this node's nicks and presence, closes connections. */
  close(): Promise<void>;

  /**
   * Publishes a room message. Resolves with its id once the bus accepted it
   * (it will then be delivered everywhere, the sender's node included);
   * rejects with CLUSTER_UNAVAILABLE if it was not accepted (it is never
   * delivered then). The in-process bus delivers it before returning.
   */
  publish(message: Omit<BusRoomMessage, 'id'>): MaybePromise<number>;

  /**
   * Sends a private message to whichever node holds `to` (case-insensitive).
   * Resolves with the message as delivered (its id, the holder's spelling of
   * the nick); rejects with NO_SUCH_NICK if nobody holds it, or
   * CLUSTER_UNAVAILABLE. The holder's node gets it through `private`, the
   * sender's node included when it holds the nick.
   */
  sendPrivate(message: Omit<BusPrivateMessage, 'id'>): MaybePromise<BusPrivateMessage>;

  /**
   * Takes a nick for this node, unique across every node (case-insensitive).
   * Resolves true if this node now holds it (or already did), false if
   * someone else does. A held nick is renewed by the bus itself until
   * `releaseNick` (a remote bus: a lease renewed while connected, lost within
   * its TTL if the node dies, never earlier).
   */
  acquireNick(nick: string): MaybePromise<boolean>;
  /** Frees a nick this node holds (no-op otherwise). Never fails: a lease left behind expires. */
  releaseNick(nick: string): void;

  /** Records that `nick` (held here) joined `room`; other nodes get a `joined`. */
  join(room: string, nick: string, ts: number): MaybePromise<void>;
  /** Records that `nick` left `room`; other nodes get a `left`. Never fails (presence expires). */
  leave(room: string, nick: string, reason: string, ts: number): void;
  /** Tells other nodes about a rename (the nick leases are done by then). Never fails. */
  renamed(old: string, nick: string, rooms: readonly string[], ts: number): void;
  /** Every member of `room` on every node, in join order as far as the bus knows it. */
  roster(room: string): MaybePromise<string[]>;

  /** The last `limit` messages of `room` (at most the bus's history bound), oldest first. */
  history(room: string, limit: number): MaybePromise<BusRoomMessage[]>;
}

/** Whether a bus answer is already there (no promise to wait for). */
export function isSettled<T>(value: MaybePromise<T>): value is T {
  return !(value instanceof Promise);
}

/** The error a remote bus rejects with when it cannot reach its peers. */
export type ClusterUnavailable = ServiceError & { code: 'CLUSTER_UNAVAILABLE' };
