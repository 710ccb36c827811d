import type { SockitError } from '../../errors.js';
import { DEFAULT_MAX_FRAME } from '../../limits.js';
import type { RelayEvent, RelayIo, RelayOptions } from './messages.js';
import { InputPump, OutputGate, eventReporter } from './stdio.js';

/** A running relay. */
export interface RelaySession {
  /** Resolves when the relay is over; rejects with the SockitError that ended it. */
  readonly done: Promise<void>;
  /** Stops at once (a signal); `done` then resolves. */
  close(): Promise<void>;
}

/** Settles once: the first outcome wins. */
export interface Outcome {
  promise: Promise<void>;
  ok: () => void;
  fail: (error: SockitError) => void;
}

export function outcome(): Outcome {
  let ok!: () => void;
  let fail!: (error: SockitError) => void;
  const promise = new Promise<void>((resolve, reject) => {
    ok = resolve;
    fail = reject;
  });
  return { promise, ok, fail };
}

/** The stdio side of a relay, the same for connect and listen. */
export interface RelayParts {
  output: OutputGate;
  input: InputPump | undefined;
  emit: (event: RelayEvent) => void;
}

/** What a started relay hands back: how to stop it, and what its session adds (a bound address). */
export interface Started<T> {
  stop: (error?: SockitError) => void;
  extra: T;
}

/**
 * Wires stdin/stdout to a relay that `start` opens, and turns its end into a
 * session. Until `start` returns, a stdio failure just ends the session; a
 * failing `start` releases stdio and rethrows.
 */
export async function runRelay<T extends object>(
  options: RelayOptions,
  io: RelayIo,
  start: (parts: RelayParts, end: Outcome) => Promise<Started<T>>,
): Promise<RelaySession & T> {
  const end = outcome();
  let stop = (error?: SockitError): void => {
    if (error) end.fail(error);
    else end.ok();
  };
  const output = new OutputGate(io.output, (error) => {
    stop(error);
  });
  const emit = eventReporter(io.onEvent, output, options.json ?? false);
  const input = options.recvOnly
    ? undefined
    : new InputPump(io.input, {
        frames: options.frames,
        maxFrame: options.maxFrame ?? DEFAULT_MAX_FRAME,
        onError: (error) => {
          stop(error);
        },
      });
  const cleanUp = (): void => {
    input?.stop();
    output.close();
  };
  let started: Started<T>;
  try {
    started = await start({ output, input, emit }, end);
  } catch (err) {
    cleanUp();
    throw err;
  }
  stop = started.stop;
  const done = end.promise.finally(cleanUp);
  done.catch(() => undefined); // the caller awaits it; never an unhandled rejection meanwhile
  return {
    ...started.extra,
    done,
    close: async () => {
      stop();
      await done.catch(() => undefined);
    },
  };
}
