/**
 * The transport under the IPC chat bus: Node's IPC channel between a
 * cluster primary and its workers (`process.send` in a worker, `worker.send`
 * in the primary). It carries only the chat channel's messages (tagged
 * `ch: 'chat'`, ipc-messages.ts) to its receiver, leaves every other message
 * on the channel alone, and says once when the other side is gone.
 *
 * Messages are plain JSON (Node's default IPC serialization), delivered in
 * the order they were sent: the hub's one order per room relies on that.
 *
 * Node queues what the pipe does not take at once, without a bound, and
 * `send()` only hints (false past 128 KiB). So the channel counts what it
 * has handed to Node and Node has not written yet; past `maxQueuedBytes`
 * the other side is stuck and the channel gives up on it (`overflow`).
 */
import { InternalError } from '../../errors.js';
import { CHAT_CHANNEL, isChatMessage } from './ipc-messages.js';

/** One end of an IPC channel: a cluster `Worker` in the primary, or the worker's own `process`. */
export interface IpcEndpoint {
  /** Sends one message; `written` is called once Node has written it (or failed to). */
  send(message: unknown, written?: () => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
  isConnected(): boolean;
  /** Ends the other side for good (the primary kills a stuck worker); optional. */
  kill?(): void;
}

/** This process's channel to its parent (a cluster worker's `process`). */
export function parentEndpoint(): IpcEndpoint {
  const send = process.send?.bind(process);
  if (send === undefined) {
    throw new InternalError('the IPC chat bus needs an IPC channel to a parent process');
  }
  return {
    // A primary that is gone fails the write (EPIPE): reported to the callback, not thrown
    // as an 'error' event; the channel's 'disconnect' ends the bus.
    send: (message, written) => send(message, undefined, undefined, () => written?.()),
    on: (event: 'message' | 'disconnect', listener: (message: unknown) => void) =>
      process.on(event, listener),
    off: (event: 'message' | 'disconnect', listener: (message: unknown) => void) =>
      process.off(event, listener),
    isConnected: () => process.connected,
  };
}

/** A rough size of `value` as JSON (bytes), without building the JSON. */
export function jsonSize(value: unknown): number {
  if (typeof value === 'string') return value.length + 2;
  if (typeof value !== 'object' || value === null) return 8;
  let n = 2;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) n += jsonSize(item) + 1;
    return n;
  }
  for (const [key, item] of Object.entries(value)) n += key.length + 4 + jsonSize(item);
  return n;
}

export interface IpcChannelOptions {
  /** @default unbounded */
  maxQueuedBytes?: number;
  /** Called once when the bound is passed; the channel is closed by then. */
  overflow?: (queuedBytes: number) => void;
}

export class IpcChannel {
  private closed = false;
  /** Handed to Node and not written yet (estimated bytes). */
  private queued = 0;
  private readonly maxQueued: number;
  private readonly onMessage = (message: unknown): void => {
    if (!this.closed && isChatMessage(message)) this.receive(message);
  };
  private readonly onDisconnect = (): void => {
    if (this.closed) return;
    this.close();
    this.lost();
  };

  /**
   * @param receive gets every chat message, unchecked (the receiver parses it)
   * @param lost called once if the other side goes away
   */
  constructor(
    private readonly endpoint: IpcEndpoint,
    private readonly receive: (message: unknown) => void,
    private readonly lost: () => void,
    private readonly options: IpcChannelOptions = {},
  ) {
    this.maxQueued = options.maxQueuedBytes ?? Infinity;
    endpoint.on('message', this.onMessage);
    endpoint.on('disconnect', this.onDisconnect);
  }

  get open(): boolean {
    return !this.closed && this.endpoint.isConnected();
  }

  /**
   * Sends one chat message; false if the channel is closed (nothing is sent
   * then) or has just given up on a stuck peer. `bytes`: its size, if the
   * caller knows it (one message sent to many workers is measured once).
   */
  send(body: object, bytes?: number): boolean {
    if (!this.open) return false;
    // Counted only where bounded (the hub's side): a worker's every call skips the size walk.
    const size = this.maxQueued === Infinity ? 0 : (bytes ?? jsonSize(body)) + 16;
    this.queued += size;
    const written =
      size === 0
        ? undefined
        : () => {
            this.queued -= size;
          };
    try {
      this.endpoint.send({ ch: CHAT_CHANNEL, ...body }, written);
    } catch {
      this.queued -= size;
      return false; // the channel closed between the check and the send
    }
    if (this.queued > this.maxQueued) {
      this.close();
      this.options.overflow?.(this.queued);
      return false;
    }
    return true;
  }

  /** Stops receiving (the endpoint itself stays open for others). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endpoint.off('message', this.onMessage);
    this.endpoint.off('disconnect', this.onDisconnect);
  }
}
