import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** A TCP/UDP endpoint (IPv4, IPv6 or a host name) or a Unix-domain socket path. */
export type Address = { kind: 'inet'; host: string; port: number } | { kind: 'unix'; path: string };

/** Linux's sockaddr_un.sun_path holds 108 bytes including the NUL. */
const MAX_UNIX_PATH_BYTES = 107;

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text)) throw badAddress(whole, `"${text}" is not a port number`);
  const port = Number(text);
  if (port > 65535) throw badAddress(whole, `port ${port} is out of range (0-65535)`);
  return port;
}

function badAddress(text: string, why: string): UsageError {
  return new UsageError('BAD_ADDRESS', `bad address "${text}": ${why}`);
}

/**
 * Parses `host:port`, `[v6]:port`, `host`, `[v6]`, a bare IPv6 literal,
 * `:port` (the default host) and `unix:/path`. A missing port is
 * `defaultPort`; a missing host is `defaultHost`.
 */
export function parseAddress(text: string, defaults: { port: number; host?: string }): Address {
  const defaultHost = defaults.host ?? '127.0.0.1';
  const input = text.trim();
  if (input.startsWith('unix:')) {
    const path = input.slice('unix:'.length);
    if (path === '') throw badAddress(text, 'empty Unix socket path');
    if (Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) {
      throw badAddress(text, `Unix socket path longer than ${MAX_UNIX_PATH_BYTES} bytes`);
    }
    return { kind: 'unix', path };
  }
  if (input === '') throw badAddress(text, 'empty address');
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close === -1) throw badAddress(text, 'missing "]"');
    const host = input.slice(1, close);
    if (isIP(host) !== 6) throw badAddress(text, `"${host}" is not an IPv6 address`);
    const rest = input.slice(close + 1);
    if (rest === '') return { kind: 'inet', host, port: defaults.port };
    if (!rest.startsWith(':')) throw badAddress(text, `unexpected "${rest}" after "]"`);
    return { kind: 'inet', host, port: parsePort(rest.slice(1), text) };
  }
  // Two or more colons without brackets: a bare IPv6 literal, no port.
  if (input.indexOf(':') !== input.lastIndexOf(':')) {
    if (isIP(input) !== 6)
      throw badAddress(text, 'IPv6 addresses with a port need brackets: [::1]:7007');
    return { kind: 'inet', host: input, port: defaults.port };
  }
  const colon = input.indexOf(':');
  if (colon === -1) {
    if (/^\d+$/.test(input))
      return { kind: 'inet', host: defaultHost, port: parsePort(input, text) };
    return { kind: 'inet', host: checkHost(input, text), port: defaults.port };
  }
  const host = input.slice(0, colon);
  const port = parsePort(input.slice(colon + 1), text);
  return { kind: 'inet', host: host === '' ? defaultHost : checkHost(host, text), port };
}

function checkHost(host: string, text: string): string {
  if (isIP(host) !== 0) return host;
  // RFC 1123 host names: letters, digits, hyphens and dots, 253 characters at most.
  if (host.length > 253 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw badAddress(text, `"${host}" is not a host name or IP address`);
  }
  return host;
}

/** `127.0.0.1:7007`, `[::1]:7007` or `unix:/path`: the form parseAddress reads back. */
export function formatAddress(address: Address): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return isIP(address.host) === 6
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** Same address family rules for UDP: `udp6` for IPv6 literals. */
export function udpFamily(host: string): 'udp4' | 'udp6' {
  return isIP(host) === 6 ? 'udp6' : 'udp4';
}

/**
 * A peer's address as used for rate limits and logs: an IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`, what a dual-stack listener reports) is the
 * same host as its IPv4 form.
 */
export function normalizeHost(host: string): string {
  if (!host.includes(':')) return host; // IPv4, the common case: on every datagram
  return host.toLowerCase().startsWith('::ffff:') && isIP(host.slice(7)) === 4
    ? host.slice(7)
    : host;
}

/** A remote endpoint for logs: `127.0.0.1:53122`, `[::1]:53122`, or `unix`. */
export function formatPeer(host: string | undefined, port: number | undefined): string {
  if (host === undefined || port === undefined) return 'unix';
  const h = normalizeHost(host);
  return isIP(h) === 6 ? `[${h}]:${port}` : `${h}:${port}`;
}

/**
 * Whether binding `host` keeps a service on this machine: `localhost`,
 * 127.0.0.0/8 or ::1 (also as ::ffff:127.x). Used to refuse exposing exec and
 * files without TLS, and files without auth.
 */
export function isLoopbackHost(host: string): boolean {
  const h = normalizeHost(host.replace(/^\[|\]$/g, ''));
  if (h.toLowerCase() === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return isIP(h) === 6 && /^(0*:){2,7}0*1$|^::1$/.test(h);
}
