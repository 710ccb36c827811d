/**
 * The transport under the IPC chat bus: Node's IPC channel between a
 * cluster primary and its workers (`process.send` in a worker, `worker.send`
 * in the primary). It carries only the chat channel's messages (tagged
 * `ch: 'chat'`, ipc-messages.ts) to its receiver, leaves every other message
 * on the channel alone, and says once when the other side is gone.
 *
 * Messages are plain JSON (Node's default IPC serialization), delivered in
 * the order they were sent: the hub's one order per room relies on that.
 */
import { InternalError } from '../../errors.js';
import { CHAT_CHANNEL, isChatMessage } from './ipc-messages.js';

/** One end of an IPC channel: a cluster `Worker` in the primary, or the worker's own `process`. */
export interface IpcEndpoint {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
  isConnected(): boolean;
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
    send: (message) => send(message, undefined, undefined, () => undefined),
    on: (event: 'message' | 'disconnect', listener: (message: unknown) => void) =>
      process.on(event, listener),
    off: (event: 'message' | 'disconnect', listener: (message: unknown) => void) =>
      process.off(event, listener),
    isConnected: () => process.connected,
  };
}

export class IpcChannel {
  private closed = false;
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
  ) {
    endpoint.on('message', this.onMessage);
    endpoint.on('disconnect', this.onDisconnect);
  }

  get open(): boolean {
    return !this.closed && this.endpoint.isConnected();
  }

  /** Sends one chat message; false if the channel is closed (nothing is sent then). */
  send(body: object): boolean {
    if (!this.open) return false;
    try {
      this.endpoint.send({ ch: CHAT_CHANNEL, ...body });
      return true;
    } catch {
      return false; // the channel closed between the check and the send
    }
  }

  /** Stops receiving (the endpoint itself stays open for others). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endpoint.off('message', this.onMessage);
    this.endpoint.off('disconnect', this.onDisconnect);
  }
}
