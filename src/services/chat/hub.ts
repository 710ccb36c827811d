/**
 * The chat hub of `sockit serve --workers N` without Redis: it runs in the
 * cluster primary and is what the workers' `IpcChatBus`es share. It does
 * for N worker processes what `LocalChatBus` does for one:
 *
 * - room messages: the hub assigns each its id (one counter, so ids increase
 *   in each room's one order) and sends it to every worker with a member in
 *   the room, the sender's included, before it answers the publish; IPC keeps
 *   each channel's order, so every worker sees a room's messages in one order,
 *   each once;
 * - history: the last `historyLimit` messages per room (a `RoomHistory`,
 *   with the same global memory bound as one process);
 * - nicks: one namespace across workers (a nick belongs to one worker);
 * - rosters, in join order, and presence (joined / left / nick) to the
 *   other workers with members in the room;
 * - private messages, to the worker holding the nick.
 *
 * A worker that dies (`detach`) loses its users: they leave every roster
 * with reason `worker_lost` (the others are told) and their nicks are free.
 * So does a worker that is stuck: one that has not read `maxQueuedBytes` of
 * what the hub wrote to it is let go and killed (the primary restarts it),
 * so one stopped worker cannot grow the primary's memory without bound.
 * Every message from a worker is checked (ipc-messages.ts) before it is acted on.
 */
import { ServiceError, type SockitError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import type { BusPrivateMessage, BusRoomMessage } from './bus.js';
import { RoomHistory } from './history.js';
import { IpcChannel, jsonSize, type IpcEndpoint } from './ipc-channel.js';
import {
  parseWorkerMessage,
  type HubMessageBody,
  type ReplyValues,
  type WorkerCall,
  type WorkerMessage,
} from './ipc-messages.js';
import {
  DEFAULT_CHAT_HISTORY,
  DEFAULT_CHAT_HISTORY_BYTES,
  IPC_MAX_HISTORY,
  IPC_MAX_QUEUED_BYTES,
} from './limits.js';
import { escapeText, nickKey } from './messages.js';

/** Options of {@link ChatHub}: the history kept per room, as `LocalChatBus` keeps it. */
export interface ChatHubOptions {
  /** Messages kept per room for history on join (at most 1 000). @default 100 */
  historyLimit?: number;
  /** Estimated memory of all rooms' history (bytes). @default 8 MiB */
  historyBytes?: number;
  /** What one worker may leave unread before it counts as stuck (bytes). @default 64 MiB */
  maxQueuedBytes?: number;
  logger?: Logger;
}

/** What a {@link ChatHub} counted. */
export interface ChatHubStats {
  /** Messages from workers that did not parse: dropped. */
  malformed: number;
  /** Users who left because their worker died. */
  lost: number;
  /** Workers let go because they stopped reading. */
  stuck: number;
}

interface Member {
  nick: string;
  worker: number;
}

/** The reason a dead worker's users leave with. */
export const WORKER_LOST = 'worker_lost';

/** The primary's side of the IPC chat bus: one chat for N workers (see the file's comment). */
export class ChatHub {
  readonly stats: ChatHubStats = { malformed: 0, lost: 0, stuck: 0 };
  private readonly log: Logger;
  private readonly historyLimit: number;
  private readonly maxQueuedBytes: number;
  private readonly rings: RoomHistory;
  private readonly channels = new Map<number, IpcChannel>();
  private nextId = 1;
  private stopping = false;
  /** Held nicks: key (lower case) → spelling and worker. */
  private readonly nicks = new Map<string, Member>();
  /** Each room's members on every worker, in join order. */
  private readonly rosters = new Map<string, Member[]>();

  constructor(options: ChatHubOptions = {}) {
    this.historyLimit = Math.min(options.historyLimit ?? DEFAULT_CHAT_HISTORY, IPC_MAX_HISTORY);
    this.rings = new RoomHistory(
      this.historyLimit,
      options.historyBytes ?? DEFAULT_CHAT_HISTORY_BYTES,
    );
    this.maxQueuedBytes = options.maxQueuedBytes ?? IPC_MAX_QUEUED_BYTES;
    this.log = (options.logger ?? silentLogger).child({ hub: 'chat' });
  }

  /** Starts serving worker `worker` (an id unique for the hub's life) over `endpoint`. */
  attach(worker: number, endpoint: IpcEndpoint): void {
    this.detach(worker);
    this.channels.set(
      worker,
      new IpcChannel(
        endpoint,
        (raw) => {
          this.receive(worker, raw);
        },
        () => {
          this.detach(worker);
        },
        {
          maxQueuedBytes: this.maxQueuedBytes,
          // Past the bound in the middle of a send (a fan-out, or another detach's
          // `left` events): the channel is closed at once, the rest after this turn.
          overflow: (queuedBytes) => {
            queueMicrotask(() => {
              this.stats.stuck++;
              this.log.error({ event: 'hub_worker_stuck', worker, queuedBytes });
              this.detach(worker, WORKER_LOST);
              endpoint.kill?.();
            });
          },
        },
      ),
    );
  }

  /**
   * Worker `worker` is gone: its users leave every roster with `reason`
   * (the other workers' members are told) and their nicks are freed. Once.
   */
  detach(worker: number, reason = this.stopping ? 'shutdown' : WORKER_LOST): void {
    const channel = this.channels.get(worker);
    if (channel === undefined) return;
    channel.close();
    this.channels.delete(worker);
    const ts = Date.now();
    let lost = 0;
    for (const [room, roster] of [...this.rosters]) {
      const gone = roster.filter((m) => m.worker === worker);
      if (gone.length === 0) continue;
      const kept = roster.filter((m) => m.worker !== worker);
      if (kept.length === 0) this.rosters.delete(room);
      else this.rosters.set(room, kept);
      for (const m of gone) {
        lost++;
        this.toRoom(room, worker, {
          kind: 'presence',
          event: { type: 'left', room, nick: m.nick, reason, ts },
        });
      }
    }
    for (const [key, holder] of [...this.nicks])
      if (holder.worker === worker) this.nicks.delete(key);
    this.stats.lost += lost;
    this.log.info({ event: 'hub_worker_gone', worker, reason, members: lost });
  }

  /**
   * Every worker is being stopped: those that go from now on leave with
   * `shutdown`, not `worker_lost` (their users have left with `quit` by then, as a rule).
   */
  stop(): void {
    this.stopping = true;
  }

  /** Stops serving every worker (their channels stay open for others). */
  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }

  /** Everyone in `room` on every worker, in join order (for tests and logs). */
  roster(room: string): string[] {
    return (this.rosters.get(room) ?? []).map((m) => m.nick);
  }

  // ---- inside ----------------------------------------------------------

  private receive(worker: number, raw: unknown): void {
    const m = parseWorkerMessage(raw);
    if (m === undefined) {
      this.stats.malformed++;
      const kind = (raw as { kind?: unknown }).kind;
      this.log.warn({
        event: 'ipc_bad_message',
        worker,
        kind: typeof kind === 'string' ? kind : undefined,
      });
      return;
    }
    if ('id' in m) this.answer(worker, m);
    else this.note(worker, m);
  }

  private answer(worker: number, call: WorkerCall): void {
    let value: ReplyValues[WorkerCall['kind']];
    try {
      value = this.run(worker, call);
    } catch (err) {
      const e = err as SockitError;
      this.send(worker, { kind: 'fail', id: call.id, code: e.code, message: e.message });
      return;
    }
    this.send(worker, { kind: 'reply', id: call.id, value });
  }

  private run(worker: number, call: WorkerCall): ReplyValues[WorkerCall['kind']] {
    switch (call.kind) {
      case 'publish':
        return this.publish(worker, call.message);
      case 'private':
        return this.sendPrivate(call.message);
      case 'acquire': {
        const key = nickKey(call.nick);
        const holder = this.nicks.get(key);
        if (holder !== undefined && holder.worker !== worker) return false;
        this.nicks.set(key, { nick: call.nick, worker });
        return true;
      }
      case 'join': {
        const { room, nick, ts } = call;
        const roster = this.rosters.get(room);
        if (roster === undefined) this.rosters.set(room, [{ nick, worker }]);
        else if (!roster.some((m) => m.nick === nick)) roster.push({ nick, worker });
        this.toRoom(room, worker, { kind: 'presence', event: { type: 'joined', room, nick, ts } });
        return null;
      }
      case 'roster':
        return this.roster(call.room);
      case 'history':
        return this.rings.last(call.room, Math.min(call.limit, this.historyLimit));
    }
  }

  private note(worker: number, m: Exclude<WorkerMessage, { id: number }>): void {
    switch (m.kind) {
      case 'release': {
        const key = nickKey(m.nick);
        if (this.nicks.get(key)?.worker === worker) this.nicks.delete(key);
        return;
      }
      case 'leave': {
        const { room, nick, reason, ts } = m;
        const roster = this.rosters.get(room);
        if (roster === undefined) return;
        const at = roster.findIndex((x) => x.nick === nick && x.worker === worker);
        if (at < 0) return;
        roster.splice(at, 1);
        if (roster.length === 0) this.rosters.delete(room);
        else
          this.toRoom(room, worker, {
            kind: 'presence',
            event: { type: 'left', room, nick, reason, ts },
          });
        return;
      }
      case 'renamed': {
        const { old, nick, rooms, ts } = m;
        const audience = new Set<number>();
        for (const room of rooms) {
          for (const member of this.rosters.get(room) ?? []) {
            if (member.worker === worker && member.nick === old) member.nick = nick;
            else if (member.worker !== worker) audience.add(member.worker);
          }
        }
        for (const w of audience) {
          this.send(w, { kind: 'presence', event: { type: 'nick', old, nick, rooms, ts } });
        }
        return;
      }
    }
  }

  private publish(worker: number, message: Omit<BusRoomMessage, 'id'>): number {
    const stored: BusRoomMessage = {
      id: this.nextId++,
      room: message.room,
      from: message.from,
      text: message.text,
      ts: message.ts,
    };
    this.rings.add(stored);
    // The sender's worker too: its members get the message when the hub delivers it, in the hub's order.
    const workers = this.workersIn(message.room);
    workers.add(worker);
    const body: HubMessageBody = { kind: 'message', message: stored };
    const bytes = jsonSize(body); // once, for every worker it goes to
    for (const w of workers) this.send(w, body, bytes);
    return stored.id;
  }

  private sendPrivate(message: Omit<BusPrivateMessage, 'id'>): BusPrivateMessage {
    const holder = this.nicks.get(nickKey(message.to));
    if (holder === undefined || !this.channels.has(holder.worker)) {
      throw new ServiceError(
        'NO_SUCH_NICK',
        `nobody is called "${escapeText(message.to.slice(0, 40))}"`,
      );
    }
    const sent: BusPrivateMessage = {
      id: this.nextId++,
      from: message.from,
      to: holder.nick,
      text: message.text,
      ts: message.ts,
    };
    this.send(holder.worker, { kind: 'private', message: sent });
    return sent;
  }

  private workersIn(room: string): Set<number> {
    const out = new Set<number>();
    for (const m of this.rosters.get(room) ?? []) out.add(m.worker);
    return out;
  }

  /** To every worker with a member in `room` but `except` (whose broker told its own members). */
  private toRoom(room: string, except: number, body: HubMessageBody): void {
    for (const w of this.workersIn(room)) if (w !== except) this.send(w, body);
  }

  private send(worker: number, body: HubMessageBody, bytes?: number): void {
    this.channels.get(worker)?.send(body, bytes);
  }
}
