/**
 * Options of a tunnel endpoint and their validation. Every check here produces a TtunError with
 * a one-line message naming the bad value, so the CLI and the API report bad input the same way.
 */
import net from 'node:net';
import { TtunError } from './errors.js';

export const CIPHERS = ['chacha20-poly1305', 'aes-256-gcm'] as const;
export type CipherName = (typeof CIPHERS)[number];

export const DEFAULT_PORT = 20203;
export const DEFAULT_LISTEN = `:${DEFAULT_PORT}`;
export const DEFAULT_MTU = 1280;
/** IPv6 needs 1280; a frame carries at most 65535 - 16 bytes of plaintext. */
export const MIN_MTU = 1280;
export const MAX_MTU = 65519;
/** v1 gives the whole handshake 10 s on each side. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Connections still in their handshake that the server keeps at once; more are closed at once. */
export const MAX_PENDING_HANDSHAKES = 16;

/** The fixed v1 addresses: server .1 / ::1, client .2 / ::2. */
export const TUNNEL_ADDRESSES = {
  server: { ipv4: '10.1.1.1', ipv4Prefix: 30, ipv6: 'fc11::1', ipv6Prefix: 126, peerIpv4: '10.1.1.2', peerIpv6: 'fc11::2' },
  client: { ipv4: '10.1.1.2', ipv4Prefix: 30, ipv6: 'fc11::2', ipv6Prefix: 126, peerIpv4: '10.1.1.1', peerIpv6: 'fc11::1' },
} as const;
export type Role = keyof typeof TUNNEL_ADDRESSES;

export interface HostPort {
  /** undefined means every local address, IPv4 and IPv6. */
  host: string | undefined;
  port: number;
}

export function parseCipher(value: unknown): CipherName {
  if (value === undefined) return 'chacha20-poly1305';
  if (typeof value === 'string' && (CIPHERS as readonly string[]).includes(value)) return value as CipherName;
  throw new TtunError(`unknown cipher ${JSON.stringify(String(value))}: use ${CIPHERS.join(' or ')}`, 'EBADCIPHER');
}

export function parseMtu(value: unknown): number {
  if (value === undefined) return DEFAULT_MTU;
  const mtu = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new TtunError(`MTU ${JSON.stringify(String(value))} is out of range: use a whole number from ${MIN_MTU} to ${MAX_MTU}`, 'EBADMTU');
  }
  return mtu;
}

export function parsePsk(value: unknown): Buffer {
  if (value === undefined || value === null || value === '') {
    throw new TtunError('a pre-shared key is required: give -k KEY', 'ENOPSK');
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  // Say what kind of value it was, never the value: it might be the key.
  throw new TtunError(`the pre-shared key must be a string or bytes, not ${typeof value}`, 'ENOPSK');
}

function parsePort(port: string, whole: string, what: string): number {
  if (!/^\d+$/.test(port) || Number(port) > 65535) {
    throw new TtunError(`bad ${what} ${JSON.stringify(whole)}: the port must be 0..65535`, 'EBADADDR');
  }
  return Number(port);
}

/**
 * Splits HOST:PORT, [IPV6]:PORT, :PORT (every address) or a bare host/IPv6 address
 * (default port). Go-style, as the v1 program takes it.
 */
export function parseHostPort(value: unknown, what: string, { hostRequired }: { hostRequired: boolean }): HostPort {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new TtunError(`bad ${what} ${JSON.stringify(value ?? '')}: expected HOST:PORT`, 'EBADADDR');
  }
  const text = value.trim();
  let host: string;
  let port = DEFAULT_PORT;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    if (!net.isIPv6(host)) throw new TtunError(`bad ${what} ${JSON.stringify(text)}: ${host} is not an IPv6 address`, 'EBADADDR');
    if (bracketed[2] !== undefined) port = parsePort(bracketed[2], text, what);
  } else if (net.isIPv6(text)) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) {
      host = text;
    } else {
      host = text.slice(0, colon);
      port = parsePort(text.slice(colon + 1), text, what);
    }
    if (host.includes(':')) throw new TtunError(`bad ${what} ${JSON.stringify(text)}: write IPv6 addresses as [ADDR]:PORT`, 'EBADADDR');
    if (host !== '' && !net.isIPv4(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/.test(host)) {
      throw new TtunError(`bad ${what} ${JSON.stringify(text)}: ${JSON.stringify(host)} is not a host name or IP address`, 'EBADADDR');
    }
  }
  if (host === '') {
    if (hostRequired) throw new TtunError(`bad ${what} ${JSON.stringify(text)}: a host is required`, 'EBADADDR');
    return { host: undefined, port };
  }
  return { host, port };
}

export function formatHostPort({ host, port }: { host: string | undefined; port: number }): string {
  if (host === undefined) return `:${port}`;
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
