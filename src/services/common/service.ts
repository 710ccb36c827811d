/**
 * What every service server is to whoever runs it (`sockit serve`, a test,
 * an application hosting several): a name, where it listens once started,
 * and a graceful close. Listening takes each service's own addresses, so it
 * is not part of this interface.
 */
export interface Service {
  /** `echo`, `time`, `exec`, `files`, `chat`, `web`: the name in logs. */
  readonly name: string;
  /** Where it listens, for people: `127.0.0.1:7007/tcp`, `unix:/run/x.sock`… */
  readonly addresses: string[];
  /**
   * Stops accepting, lets connections finish for `graceMs`, then cuts the
   * rest. Resolves when every socket is closed.
   */
  close(graceMs?: number): Promise<void>;
}
