import { spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LogProcess } from '../proc.js';
import { requireTool } from '../tools.js';

let made = 0;

/**
 * Whether namespace tests can run: root, `ip` and `nft`. On a laptop without
 * them the test skips loudly; under CI=true (where .ci/run installs iproute2
 * and nftables and runs as root) a missing piece fails the test.
 */
export function netnsAvailable(t: TestContext): boolean {
  if (!requireTool(t, 'ip', 'iproute2') || !requireTool(t, 'nft', 'nftables')) return false;
  if (process.getuid?.() !== 0) {
    const why = 'network namespaces need root';
    if (process.env.CI === 'true') throw new Error(`${why}; CI runs as root`);
    process.stderr.write(`\n*** SKIPPED: ${t.name}: ${why} ***\n\n`);
    t.skip(why);
    return false;
  }
  return true;
}

function sh(args: readonly string[], input?: string): string {
  const r = spawnSync(args[0] as string, args.slice(1), {
    input: input ?? '',
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/**
 * A private network namespace joined to this one by a veth pair
 * (`hostIp` here, `nsIp` inside), with an nftables table whose input and
 * output chains take fault rules: random drop (`numgen random`), TCP reset
 * injection (`reject with tcp reset`) and blackhole. netem is not available
 * on this kernel (RELIABILITY.md §0.1). Removed, with every process in it,
 * in teardown.
 */
export class Netns {
  readonly name: string;
  readonly hostIp: string;
  readonly nsIp: string;
  private readonly hostIf: string;
  private readonly nsIf: string;

  private constructor(n: number) {
    const id = `${process.pid}x${n}`;
    this.name = `sockit-${id}`;
    this.hostIf = `sk${id}h`.slice(0, 15);
    this.nsIf = `sk${id}n`.slice(0, 15);
    const a = 100 + (process.pid % 100);
    const b = (process.pid >> 7) % 250;
    const c = n % 64;
    this.hostIp = `10.${a}.${b}.${c * 4 + 1}`;
    this.nsIp = `10.${a}.${b}.${c * 4 + 2}`;
  }

  static create(t: TestContext): Netns {
    const ns = new Netns(++made);
    t.after(() => {
      ns.destroy();
    });
    sh(['ip', 'netns', 'add', ns.name]);
    sh(['ip', 'link', 'add', ns.hostIf, 'type', 'veth', 'peer', 'name', ns.nsIf]);
    sh(['ip', 'link', 'set', ns.nsIf, 'netns', ns.name]);
    sh(['ip', 'addr', 'add', `${ns.hostIp}/30`, 'dev', ns.hostIf]);
    sh(['ip', 'link', 'set', ns.hostIf, 'up']);
    sh(['ip', '-n', ns.name, 'addr', 'add', `${ns.nsIp}/30`, 'dev', ns.nsIf]);
    sh(['ip', '-n', ns.name, 'link', 'set', ns.nsIf, 'up']);
    sh(['ip', '-n', ns.name, 'link', 'set', 'lo', 'up']);
    ns.nft(
      'table inet chaos {\n' +
        '  chain input { type filter hook input priority 0; policy accept; }\n' +
        '  chain output { type filter hook output priority 0; policy accept; }\n' +
        '}\n',
    );
    return ns;
  }

  /** Runs `nft -f -` inside the namespace with `script`. */
  nft(script: string): void {
    sh(['ip', 'netns', 'exec', this.name, 'nft', '-f', '-'], script);
  }

  /** The ruleset now in force (for failure messages). */
  rules(): string {
    return sh(['ip', 'netns', 'exec', this.name, 'nft', 'list', 'table', 'inet', 'chaos']);
  }

  /** Drops `percent` % of the packets to and from `port` inside the namespace, at random. */
  randomDrop(port: number, percent: number, proto: 'tcp' | 'udp' = 'tcp'): void {
    this.nft(
      `add rule inet chaos input ${proto} dport ${port} numgen random mod 100 < ${percent} drop\n` +
        `add rule inet chaos output ${proto} sport ${port} numgen random mod 100 < ${percent} drop\n`,
    );
  }

  /** Answers every packet to `port` with a TCP reset (kills live connections at their next segment). */
  reset(port: number): void {
    this.nft(`add rule inet chaos input tcp dport ${port} reject with tcp reset\n`);
  }

  /** Drops everything to and from `port`, both ways: a half-open connection for both ends. */
  blackhole(port: number, proto: 'tcp' | 'udp' = 'tcp'): void {
    this.nft(
      `add rule inet chaos input ${proto} dport ${port} drop\n` +
        `add rule inet chaos output ${proto} sport ${port} drop\n`,
    );
  }

  /**
   * Drops everything between a client inside the namespace and `port`
   * outside it (e.g. Redis), both ways: no reset, no FIN, packets vanish.
   */
  cutOff(port: number): void {
    this.nft(
      `add rule inet chaos output tcp dport ${port} drop\n` +
        `add rule inet chaos input tcp sport ${port} drop\n`,
    );
  }

  /** Removes every fault rule. */
  clear(): void {
    this.nft('flush chain inet chaos input\nflush chain inet chaos output\n');
  }

  /**
   * Starts `node --import tsx SCRIPT ARGS` inside the namespace; its stdout
   * is JSON lines. SIGKILLed in teardown if still running.
   */
  spawnNode(t: TestContext, script: string, args: readonly string[] = []): LogProcess {
    const child = spawn(
      'ip',
      ['netns', 'exec', this.name, process.execPath, '--import', 'tsx', script, ...args],
      { stdio: 'pipe', cwd: fileURLToPath(new URL('../../../', import.meta.url)) },
    );
    const proc = new LogProcess(child);
    t.after(() => {
      proc.kill('SIGKILL');
    });
    return proc;
  }

  destroy(): void {
    const pids = spawnSync('ip', ['netns', 'pids', this.name], { encoding: 'utf8' }).stdout;
    for (const pid of pids.split('\n').filter((p) => p.trim() !== '')) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', this.name]);
    spawnSync('ip', ['link', 'del', this.hostIf]); // normally gone with its peer
  }
}

/** The server script run inside a namespace (see ns-server.ts). */
export const NS_SERVER = fileURLToPath(new URL('./ns-server.ts', import.meta.url));

/** A chat node on a Redis bus, run inside a namespace or beside it (see ns-chat-node.ts). */
export const NS_CHAT_NODE = fileURLToPath(new URL('./ns-chat-node.ts', import.meta.url));
