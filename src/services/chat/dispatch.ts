/**
 * Request dispatch: a client's decoded input (text lines and envelope
 * requests), in stream order, turned into broker calls. Also the input's
 * flow control: a client over its rate is slowed (its reading paused until
 * it has a token again), and a client whose request waits for a remote bus
 * has its next ones wait too, so each client's requests take effect in order.
 * Room messages are the exception: a remote bus keeps one sender's messages
 * in order by itself (one connection, one stream), so up to
 * MAX_PENDING_SAYS of them are on their way at once instead of one round
 * trip each; a refused one is still reported to its sender. Any other input
 * waits until the says before it are settled, so a say followed by a quit, a
 * FIN or a /part takes effect (and is answered) first.
 */
import { ServiceError, SockitError, fromSystemError } from '../../errors.js';
import type { ChatBroker, Step } from './broker.js';
import {
  TEXT_HELP,
  canonicalRoom,
  parseTextLine,
  type ChatRequest,
  type TextCommand,
} from './messages.js';
import { MAX_PENDING_SAYS } from './limits.js';
import { Outgoing } from './outbound.js';
import { needsToken, refOf, type ChatRateLimit, type Session, type Work } from './session.js';

/** Steps of room messages, which may be pipelined (see the file comment). */
const pipelinable = new WeakSet<Promise<void>>();

function pipelined(step: Step): Step {
  if (step !== undefined) pipelinable.add(step);
  return step;
}

/** Whether a queued input is a room message (which may be pipelined). */
function isSay(work: Work): boolean {
  if (work.kind === 'request') return work.request.type === 'say';
  return work.kind === 'line' && parseTextLine(work.line).kind === 'say';
}

/** Reads the client again unless something else still holds its input. */
function resumeIfReady(session: Session): void {
  if (session.ready) session.conn.resume();
}

export class Dispatcher {
  constructor(
    private readonly broker: ChatBroker,
    private readonly rate: ChatRateLimit | false,
  ) {}

  /** Acts on queued input in order; stops while the client is over its rate or waiting. */
  drain(session: Session): void {
    while (session.ready && session.queue.length > 0) {
      const work = session.queue[0] as Work;
      if (session.pendingSays > 0 && !isSay(work)) {
        // Anything else waits for the says before it (a quit, a FIN, a /part, a
        // who): their receipts and errors come first, and their XADDs are first.
        session.saysBarrier = true;
        session.conn.pause();
        return;
      }
      if (needsToken(work) && !this.takeToken(session)) {
        this.slowDown(session);
        return;
      }
      session.queue.shift();
      let step: Step;
      try {
        step = this.act(session, work);
      } catch (err) {
        this.failed(session, err, work);
        continue;
      }
      if (step !== undefined) {
        if (pipelinable.has(step)) {
          if (this.pipeline(session, step, work)) continue;
          return;
        }
        this.wait(session, step, work);
        return;
      }
    }
  }

  /** The request waits for a remote bus: hold this client's input until it settles. */
  private wait(session: Session, step: Promise<void>, work: Work): void {
    session.waiting = true;
    session.conn.pause();
    const settled = (): void => {
      session.waiting = false;
      if (session.gone) return;
      resumeIfReady(session);
      this.drain(session);
    };
    step.then(settled, (err: unknown) => {
      this.failed(session, err, work);
      settled();
    });
  }

  /**
   * Lets a room message go on its way while the next input is acted on.
   * Returns false when the client has MAX_PENDING_SAYS out already: then its
   * input waits for one of them to be accepted.
   */
  private pipeline(session: Session, step: Promise<void>, work: Work): boolean {
    session.pendingSays++;
    const full = session.pendingSays >= MAX_PENDING_SAYS;
    if (full) {
      session.saysFull = true;
      session.conn.pause();
    }
    const settled = (): void => {
      session.pendingSays--;
      const barrierDone = session.saysBarrier && session.pendingSays === 0;
      if (!session.saysFull && !barrierDone) return;
      session.saysFull = false;
      if (barrierDone) session.saysBarrier = false;
      if (session.gone) return;
      resumeIfReady(session);
      this.drain(session);
    };
    step.then(settled, (err: unknown) => {
      this.failed(session, err, work);
      settled();
    });
    return !full;
  }

  /**
   * A refused request is an error event; anything else ends the client, and
   * so does a failed hello (a client cannot be served without a nick).
   */
  private failed(session: Session, err: unknown, work: Work): void {
    if (err instanceof ServiceError && work.kind !== 'hello') {
      this.broker.sendError(session, err, refOf(work));
    } else {
      this.broker.cutOff(session, err instanceof SockitError ? err : fromSystemError(err, 'chat'));
    }
  }

  private takeToken(session: Session): boolean {
    const rate = this.rate;
    if (!rate) return true;
    const now = performance.now();
    session.tokens = Math.min(
      rate.burst,
      session.tokens + ((now - session.tokensAt) * rate.ratePerSec) / 1000,
    );
    session.tokensAt = now;
    if (session.tokens < 1) return false;
    session.tokens -= 1;
    return true;
  }

  private slowDown(session: Session): void {
    const rate = this.rate;
    if (!rate) return;
    session.paused = true;
    session.conn.pause();
    const waitMs = Math.ceil(((1 - session.tokens) * 1000) / rate.ratePerSec);
    session.resumeTimer = setTimeout(() => {
      session.resumeTimer = undefined;
      session.paused = false;
      if (session.gone) return;
      resumeIfReady(session);
      this.drain(session);
    }, waitMs);
  }

  private act(session: Session, work: Work): Step {
    switch (work.kind) {
      case 'hello':
        return this.broker.hello(session);
      case 'end':
        this.broker.ended(session);
        return;
      case 'bad':
        throw work.error;
      case 'line':
        return this.actText(session, parseTextLine(work.line), work.unterminated);
      case 'request':
        return this.actRequest(session, work.request);
    }
  }

  private actText(session: Session, command: TextCommand, unterminated: boolean): Step {
    const broker = this.broker;
    switch (command.kind) {
      case 'none':
        return;
      case 'say': {
        const room = session.current;
        if (room === undefined) {
          throw new ServiceError('NOT_IN_ROOM', 'you are in no room: /join ROOM first');
        }
        return pipelined(broker.say(session, room, command.text, unterminated));
      }
      case 'nick':
        return broker.rename(session, command.nick, undefined);
      case 'join':
        return broker.join(session, command.room, undefined, undefined);
      case 'part':
        broker.leave(session, command.room);
        return;
      case 'msg':
        return broker.privateMessage(session, command.to, command.text);
      case 'who':
        return broker.who(session, command.room, undefined);
      case 'history':
        return broker.textHistory(session, command.room);
      case 'quit':
        broker.quit(session);
        return;
      case 'help':
        for (const line of TEXT_HELP) broker.outbound.sendLine(session, line);
        return;
    }
  }

  private actRequest(session: Session, request: ChatRequest): Step {
    const broker = this.broker;
    switch (request.type) {
      case 'join':
        return broker.join(session, request.room, request.nick, request.ref);
      case 'say': {
        const room = request.room !== undefined ? canonicalRoom(request.room) : session.current;
        if (room === undefined) throw new ServiceError('NOT_IN_ROOM', 'join a room first');
        return pipelined(broker.say(session, room, request.text));
      }
      case 'msg':
        return broker.privateMessage(session, request.to, request.text);
      case 'who':
        return broker.who(session, request.room, request.ref);
      case 'leave':
        broker.leave(session, request.room);
        return;
      case 'nick':
        return broker.rename(session, request.nick, request.ref);
      case 'ping':
        broker.outbound.deliver(
          session,
          new Outgoing(
            request.id !== undefined ? { type: 'pong', id: request.id } : { type: 'pong' },
          ),
        );
        return;
      case 'pong':
        return;
      case 'quit':
        broker.quit(session);
        return;
    }
  }
}
