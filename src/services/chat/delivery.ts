/**
 * What the bus delivers, fanned out to this node's members: room messages
 * (each encoded once per format, written to every local member; a text
 * client does not get its own lines back), private messages to a local
 * nick, presence from other nodes, a lost nick lease, the bus going down
 * and coming back.
 */
import { ServiceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { privateEvent, type ChatBroker } from './broker.js';
import type {
  BusPresenceEvent,
  BusPrivateMessage,
  BusRoomMessage,
  ChatBusHandlers,
} from './bus.js';
import { nickKey } from './messages.js';
import { Outgoing } from './outbound.js';
import type { Session } from './session.js';

export class BusDelivery implements ChatBusHandlers {
  constructor(
    private readonly broker: ChatBroker,
    private readonly log: Logger,
  ) {}

  message(message: BusRoomMessage): void {
    this.broker.stats.messages++;
    const members = this.broker.rooms.get(message.room);
    if (members === undefined) return;
    const out = new Outgoing({
      type: 'message',
      id: message.id,
      from: message.from,
      room: message.room,
      text: message.text,
      ts: message.ts,
    });
    // nc users see what they typed already; envelope clients get theirs back as the receipt.
    for (const member of members) {
      if (member.format === 'text' && member.nick === message.from) continue;
      this.broker.outbound.deliver(member, out);
    }
  }

  private(message: BusPrivateMessage): void {
    const target = this.broker.byNick.get(nickKey(message.to));
    if (target === undefined || target.gone) return;
    this.broker.outbound.deliver(target, new Outgoing(privateEvent(message)));
  }

  presence(event: BusPresenceEvent): void {
    const { rooms, outbound } = this.broker;
    if (event.type === 'nick') {
      const audience = new Set<Session>();
      for (const room of event.rooms) for (const s of rooms.get(room) ?? []) audience.add(s);
      const { old, nick, ts } = event;
      outbound.broadcast(audience, new Outgoing({ type: 'nick', old, nick, ts }));
      return;
    }
    const members = rooms.get(event.room);
    if (members !== undefined) outbound.broadcast(members, new Outgoing(event));
  }

  nickLost(nick: string): void {
    const holder = this.broker.byNick.get(nickKey(nick));
    if (holder === undefined) return;
    this.broker.cutOff(
      holder,
      new ServiceError(
        'NICK_TAKEN',
        `nickname "${nick}" was taken while the cluster was unreachable`,
      ),
    );
  }

  /** Every local client hears once that the cluster went away, and a text client that it is back. */
  state(state: 'up' | 'down'): void {
    this.log.warn({ event: 'cluster', state });
    const outbound = this.broker.outbound;
    const down = new Outgoing({
      type: 'error',
      code: 'CLUSTER_UNAVAILABLE',
      message: 'the chat cluster is unreachable: messages are refused until it is back',
    });
    for (const session of this.broker.byNick.values()) {
      if (state === 'down') outbound.deliver(session, down);
      else if (session.format === 'text') outbound.sendLine(session, '* the chat cluster is back');
    }
  }
}
