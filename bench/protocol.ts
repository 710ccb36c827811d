/** Messages between the bench orchestrator and its child processes (IPC). */

/** The servers a bench run can start. */
export const SERVER_KINDS = [
  'sockit',
  'sockit-upper',
  'baseline',
  'baseline-upper',
  'baseline-loaded',
  'trivial',
] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export function isServerKind(value: string): value is ServerKind {
  return (SERVER_KINDS as readonly string[]).includes(value);
}

/** Orchestrator → server. */
export type ServerCommand = { cmd: 'gc' } | { cmd: 'stats' } | { cmd: 'stop' };

/** Cumulative counters of a server process, read before and after each run. */
export interface ServerStats {
  /** CPU time used by the process, user + system (ms). */
  cpuMs: number;
  /** Mark-compact (major) and scavenge (minor) collections so far. */
  gcMajor: number;
  gcMinor: number;
  /** Time spent in GC pauses (ms). */
  gcMs: number;
}

/** process.memoryUsage() after a full GC (bytes). */
export interface MemorySnapshot {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Server → orchestrator. */
export type ServerEvent =
  | { event: 'listening'; port: number }
  | { event: 'gc-done'; memory: MemorySnapshot }
  | { event: 'stats'; stats: ServerStats };

/** Pipelined frames on one or more connections: a window of frames kept in flight. */
export interface PipelineSpec {
  mode: 'pipeline';
  port: number;
  /** Payload bytes of each frame. */
  frameSize: number;
  connections: number;
  /** Frames in flight per connection (sent and not yet answered). */
  windowFrames: number;
  /** Frames per client write. */
  batchFrames: number;
  warmupMs: number;
  durationMs: number;
  /** Connect with TLS (any certificate accepted; ALPN sockit/1). */
  tls?: boolean;
}

/** Request/response: each connection has one frame outstanding at a time. */
export interface RequestSpec {
  mode: 'request';
  port: number;
  frameSize: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** Connect with TLS (any certificate accepted; ALPN sockit/1). */
  tls?: boolean;
}

/**
 * Connection churn: `connections` clients at once, each in a loop of connect,
 * one frame's round trip, and a reset (no TIME_WAIT); counts completed cycles.
 */
export interface AcceptSpec {
  mode: 'accept';
  port: number;
  frameSize: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
  tls?: boolean;
}

export type RunSpec = PipelineSpec | RequestSpec | AcceptSpec;

export interface RunResult {
  /** Reply frames counted in the measured window. */
  frames: number;
  /** Reply frames over the whole run, warm-up included (for the server's CPU cost per message). */
  totalFrames: number;
  /** Reply payload bytes counted in the measured window. */
  payloadBytes: number;
  seconds: number;
  /** CPU time the load generator used during the run (ms). */
  cpuMs: number;
  /** Latency percentiles in ms (request mode only). */
  p50Ms?: number;
  p99Ms?: number;
}

export interface IdleOpenResult {
  opened: number;
  /** Connections that completed their first round trip. */
  answered: number;
  failed: number;
  seconds: number;
}

export interface IdleCheckResult {
  /** Connections that answered a second round trip, after the RSS reading. */
  alive: number;
  /** Connections closed by the server since they were opened. */
  closed: number;
}

/** Orchestrator → load generator. */
export type LoadCommand =
  | { cmd: 'run'; spec: RunSpec }
  | { cmd: 'idle-open'; port: number; connections: number; frameSize: number }
  | { cmd: 'idle-check' }
  | { cmd: 'idle-close' }
  | { cmd: 'exit' };

/** Load generator → orchestrator. */
export type LoadReply =
  | { ok: true; result: RunResult }
  | { ok: true; idleOpen: IdleOpenResult }
  | { ok: true; idleCheck: IdleCheckResult }
  | { ok: true; closed: true }
  | { ok: false; error: string };
