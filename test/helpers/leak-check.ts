/**
 * Handle-leak check for every test file (docs/RELIABILITY.md, NODE-08).
 * scripts/run-tests.mjs preloads it (`--import ./test/helpers/leak-check.ts`);
 * in each test file's process it adds a root `after` hook that runs once all
 * of the file's tests and their `t.after` clean-ups are done. It then waits up
 * to LEAK_GRACE_MS (default 1000) for closing handles to finish closing, and
 * compares process.getActiveResourcesInfo() with what the process had when it
 * started (stdio and the runner's own). Sockets, servers, UDP sockets, timers,
 * child processes or file watchers left over are listed with details on
 * stderr, and the file fails — or, with LEAK_CHECK=report, is only reported.
 * LEAK_CHECK=off disables it.
 */
import { after } from 'node:test';

const mode = process.env.LEAK_CHECK ?? 'fail';
const graceMs = Number(process.env.LEAK_GRACE_MS ?? 1000);
const isTestFileProcess = (process.env.NODE_TEST_CONTEXT ?? '').startsWith('child');

function countByType(list: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of list) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Resource types that are never a test's leak: pending fs requests, promises being settled… */
const IGNORED = new Set([
  'FSReqCallback',
  'FSReqPromise',
  'FileHandleCloseReq',
  'Immediate',
  'TTYWrap',
]);

/** The handles of process.stdin/stdout/stderr (created lazily, e.g. when a test touches process.stdin). */
function stdioHandles(): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter(isStdio).length;
}

function isStdio(h: unknown): boolean {
  const s = h as { _isStdio?: boolean; _handle?: { fd?: number } | null };
  const fd = s._handle?.fd ?? -1;
  return s._isStdio === true || (fd >= 0 && fd <= 2);
}

function excess(baseline: Map<string, number>, stdioBaseline: number): string[] {
  const now = countByType(process.getActiveResourcesInfo());
  // A stdio stream opened after the start (a PipeWrap or TTYWrap for fd 0) is the process's own, not a leak.
  let stdioAllowance = Math.max(0, stdioHandles() - stdioBaseline);
  const out: string[] = [];
  for (const [type, n] of now) {
    if (IGNORED.has(type)) continue;
    let extra = n - (baseline.get(type) ?? 0);
    if (type === 'PipeWrap' || type === 'TCPSocketWrap') {
      const allowed = Math.min(stdioAllowance, Math.max(0, extra));
      extra -= allowed;
      stdioAllowance -= allowed;
    }
    if (extra > 0) out.push(`${extra} × ${type}`);
  }
  return out;
}

/** What each live handle is, as far as Node says (sockets, servers, child processes). */
function describeHandles(): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.flatMap((h): string[] => {
    if (isStdio(h)) return [];
    const o = h as Record<string, unknown> & { constructor: { name: string } };
    const name = o.constructor.name;
    try {
      if (name === 'Socket' || name === 'TLSSocket') {
        const s = o as unknown as {
          localAddress?: string;
          localPort?: number;
          remoteAddress?: string;
          remotePort?: number;
          destroyed: boolean;
        };
        if (s.remoteAddress === undefined && s.localAddress === undefined)
          return ['Socket (pipe or unconnected)'];
        return [
          `${name} ${s.localAddress}:${s.localPort} -> ${s.remoteAddress}:${s.remotePort}${s.destroyed ? ' (destroyed)' : ''}`,
        ];
      }
      if (name === 'Server') {
        const addr = (o as unknown as { address(): unknown }).address();
        return [`Server listening on ${JSON.stringify(addr)}`];
      }
      if (name === 'ChildProcess') {
        const c = o as unknown as { pid?: number; spawnfile?: string; spawnargs?: string[] };
        return [
          `ChildProcess pid ${c.pid} ${(c.spawnargs ?? [c.spawnfile]).join(' ').slice(0, 160)}`,
        ];
      }
      if (name === 'Timeout') {
        const t = o as unknown as {
          _idleTimeout?: number;
          _repeat?: number | null;
          _onTimeout?: { name?: string };
        };
        return [
          `Timeout ${t._idleTimeout} ms${t._repeat ? ' (interval)' : ''} ${t._onTimeout?.name ?? ''}`.trim(),
        ];
      }
      return [name];
    } catch {
      return [name];
    }
  });
}

if (isTestFileProcess && mode !== 'off') {
  const baseline = countByType(process.getActiveResourcesInfo());
  const stdioBaseline = stdioHandles();
  const file = process.argv[1] ?? 'this test file';
  after(async () => {
    const started = performance.now();
    // Closing handles finish closing within a few loop turns; poll until they are gone or the grace ends.
    // Checked from an Immediate: a Timeout still counts as active while its own callback runs.
    const leaked = await new Promise<string[]>((resolve) => {
      const check = (): void => {
        const left = excess(baseline, stdioBaseline);
        if (left.length === 0 || performance.now() - started >= graceMs) resolve(left);
        else setTimeout(() => setImmediate(check), 20);
      };
      setImmediate(check);
    });
    if (leaked.length === 0) return;
    const details = describeHandles();
    const message =
      `LEAK CHECK: ${file} left ${leaked.join(', ')} open after its tests (waited ${graceMs} ms)` +
      (details.length > 0 ? `:\n  ${details.join('\n  ')}` : '');
    console.error(message);
    if (mode === 'fail') throw new Error(message);
  });
}
