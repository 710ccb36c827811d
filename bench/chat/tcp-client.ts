/** A fan-out bench client speaking framed envelopes on node:net (bench:chat, bench:cluster). */
import { connect } from 'node:net';
import { FrameReader, envelope } from '../harness/frames.js';
import type { FanoutClient } from './fanout.js';

/** Connects to 127.0.0.1:`port`; `node` tags which server of several it is (latency per node). */
export function openTcpChatClient(port: number, node = 0): Promise<FanoutClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      let failed: ((err: Error) => void) | undefined;
      let closing = false;
      socket.on('error', (err) => failed?.(err));
      socket.on('close', () => {
        if (!closing) failed?.(new Error('the server closed a client'));
      });
      resolve({
        node,
        send(requests) {
          const frames = requests.map(envelope);
          socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames));
        },
        onPayload(handler) {
          const reader = new FrameReader(handler);
          socket.on('data', (chunk: Buffer) => {
            reader.push(chunk);
          });
        },
        onFailure(handler) {
          failed = handler;
        },
        close() {
          closing = true;
          socket.destroy();
        },
      });
    });
    socket.once('error', reject);
  });
}
