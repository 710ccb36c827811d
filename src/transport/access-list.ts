import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { normalizeHost } from './address.js';

type Family = 'ipv4' | 'ipv6';

/** One `--allow` / `--deny` rule, parsed. */
export type AccessRule =
  | { kind: 'address'; address: string; family: Family }
  | { kind: 'subnet'; network: string; prefix: number; family: Family }
  | { kind: 'range'; start: string; end: string; family: Family };

function familyOf(address: string): Family | undefined {
  const version = isIP(address);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

function badRule(text: string, why: string): UsageError {
  return new UsageError('BAD_OPTION', `bad address rule "${text}": ${why}`);
}

/**
 * Parses one rule: an address (`127.0.0.1`, `::1`), a CIDR block
 * (`10.0.0.0/8`, `fd00::/8`) or an inclusive range (`10.0.0.5-10.0.0.9`).
 * Host names are refused: a rule must not depend on DNS.
 */
export function parseAccessRule(text: string): AccessRule {
  const rule = text.trim();
  const slash = rule.indexOf('/');
  if (slash !== -1) {
    const network = rule.slice(0, slash);
    const prefixText = rule.slice(slash + 1);
    const family = familyOf(network);
    if (!family) throw badRule(text, `"${network}" is not an IP address`);
    const max = family === 'ipv4' ? 32 : 128;
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw badRule(text, `prefix length must be 0-${max}`);
    }
    return { kind: 'subnet', network, prefix: Number(prefixText), family };
  }
  const dash = rule.indexOf('-');
  if (dash !== -1) {
    const start = rule.slice(0, dash);
    const end = rule.slice(dash + 1);
    const family = familyOf(start);
    if (!family || familyOf(end) !== family) {
      throw badRule(text, 'a range is two addresses of the same family, e.g. 10.0.0.5-10.0.0.9');
    }
    return { kind: 'range', start, end, family };
  }
  const family = familyOf(rule);
  if (!family) throw badRule(text, 'expected an IP address, a CIDR block or a range');
  return { kind: 'address', address: rule, family };
}

/** Splits repeated options and comma lists: `["a,b", "c"]` → `[a, b, c]`. */
function rulesOf(texts: readonly string[]): AccessRule[] {
  return texts
    .flatMap((t) => t.split(','))
    .filter((t) => t.trim() !== '')
    .map(parseAccessRule);
}

function blockListOf(rules: readonly AccessRule[]): BlockList {
  const list = new BlockList();
  for (const rule of rules) {
    if (rule.kind === 'address') list.addAddress(rule.address, rule.family);
    else if (rule.kind === 'subnet') list.addSubnet(rule.network, rule.prefix, rule.family);
    else {
      try {
        list.addRange(rule.start, rule.end, rule.family);
      } catch {
        throw badRule(
          `${rule.start}-${rule.end}`,
          'the start of a range must not come after its end',
        );
      }
    }
  }
  return list;
}

/**
 * Who may connect (ncat's --allow / --deny). With allow rules, only a peer
 * matching one is accepted; a peer matching a deny rule is refused even if
 * it is also allowed. IPv4-mapped IPv6 peers (`::ffff:127.0.0.1`, what a
 * dual-stack listener reports) match IPv4 rules. Pure: no sockets.
 */
export class AccessList {
  private readonly allowList: BlockList | undefined;
  private readonly denyList: BlockList | undefined;

  constructor(rules: { allow?: readonly string[]; deny?: readonly string[] } = {}) {
    const allow = rulesOf(rules.allow ?? []);
    const deny = rulesOf(rules.deny ?? []);
    this.allowList = allow.length > 0 ? blockListOf(allow) : undefined;
    this.denyList = deny.length > 0 ? blockListOf(deny) : undefined;
  }

  /** Whether there are any rules at all. */
  get empty(): boolean {
    return this.allowList === undefined && this.denyList === undefined;
  }

  /** Whether `host` (an IP address) may connect. Anything that is not an IP address may not. */
  allows(host: string): boolean {
    if (this.empty) return true;
    const address = normalizeHost(host);
    const family = familyOf(address);
    if (!family) return false;
    if (this.denyList?.check(address, family)) return false;
    return this.allowList ? this.allowList.check(address, family) : true;
  }

  /** Why `host` was refused, for logs and the CLI. */
  reason(host: string): string {
    const address = normalizeHost(host);
    const family = familyOf(address);
    if (family && this.denyList?.check(address, family)) return `${address} matches --deny`;
    return `${address} is not in --allow`;
  }
}
