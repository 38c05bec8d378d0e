/**
 * Options of a tunnel endpoint and their validation. Every check here produces a TtunError with
 * a one-line message naming the option and what it takes, never the value given: a key typed
 * into the wrong option must not be printed.
 */
import net from 'node:net';
import { badOption, TtunError, type TtunErrorCode } from '../shared/errors.js';
import { MAX_MTU, MIN_MTU } from '../shared/wire.js';

export const CIPHERS = ['chacha20-poly1305', 'aes-256-gcm'] as const;
export type CipherName = (typeof CIPHERS)[number];

export const DEFAULT_PORT = 20203;
export const DEFAULT_LISTEN = `:${DEFAULT_PORT}`;
export const DEFAULT_MTU = 1280;
/** The TUN MTU's range, from the Rust core: IPv6 needs 1280; a packet must fit one frame. */
export { MAX_MTU, MIN_MTU } from '../shared/wire.js';

/** setTimeout's limit: longer delays fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Who carries a connection once its session is up (the `dataPath` option; see datapath/packet-carrier.ts). */
export const DATA_PATHS = ['auto', 'event-loop'] as const;
export type DataPath = (typeof DATA_PATHS)[number];

export function parseDataPath(value: unknown): DataPath {
  if (value === undefined) return 'auto';
  if (!DATA_PATHS.includes(value as DataPath)) {
    throw badOption('dataPath', `use ${DATA_PATHS.join(' or ')}`);
  }
  return value as DataPath;
}

/** How the CLI writes its log lines (the `log-format` option; see cli/log.ts). */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The CLI's log levels, least severe first (the `log-level` option: lines below it are not written). */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  throw badOption('cipher', `use ${CIPHERS.join(' or ')}`, 'EBADCIPHER');
}

export function parseMtu(value: unknown): number {
  if (value === undefined) return DEFAULT_MTU;
  const mtu = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw badOption('mtu', `use a whole number from ${MIN_MTU} to ${MAX_MTU}`, 'EBADMTU');
  }
  return mtu;
}

export function parsePsk(value: unknown): Buffer {
  if (value === undefined || value === null || value === '') {
    throw new TtunError('psk is required: the pre-shared key, a string or bytes', 'ENOPSK');
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  // Say what kind of value it was, never the value: it might be the key.
  throw new TtunError(`psk must be a string or bytes, not ${typeof value}`, 'ENOPSK');
}

/** A whole number of at least 1 (a count), or `fallback` when not given. */
export function parseCount(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw badOption(name, 'use a whole number of at least 1');
  }
  return value;
}

/** A duration in milliseconds, above 0, or `fallback` when not given. */
export function parseTimeoutMs(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw badOption(name, `use milliseconds above 0 (at most ${MAX_TIMEOUT_MS})`);
  }
  return value;
}

export function parseBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw badOption(name, 'use true or false');
  return value;
}

/**
 * Which source a connection counts against for the per-source bound: an IPv4 address as it is,
 * an IPv6 address by its /64 (one host usually holds a whole /64, so counting single IPv6
 * addresses would bound nothing). IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, how a dual-stack
 * listener reports IPv4 peers) are IPv4.
 */
export function admissionSourceOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (net.isIPv4(address)) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone dropped, embedded dotted IPv4 allowed). */
export function ipv6Groups(address: string): number[] | undefined {
  let text = address.split('%')[0]!;
  if (!net.isIPv6(text)) return undefined;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - front.length - back.length).fill(0);
  return [...front, ...zeros, ...back];
}

/**
 * Whether a host name is one the system's resolver could take (dns.lookup decides whether it
 * exists): not empty, at most 253 bytes, and none of what separates a host from the rest of an
 * address or URL (whitespace, control characters, / ? # @ [ ] , :). Underscores (Docker Compose
 * service names) and non-ASCII (IDN) names pass, as they do for getaddrinfo.
 */
export function isHostName(host: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  return host !== '' && Buffer.byteLength(host) <= 253 && !/[\s\x00-\x1f\x7f/?#@[\],:]/.test(host);
}

/**
 * HOST:PORT, [IPV6]:PORT, :PORT, or a bare host or IPv6 address, split into its parts (port text
 * undefined when none is given); undefined when a bracketed part is not an IPv6 address or an
 * unbracketed host holds a colon. The one reader of this syntax (addresses, proxy URLs).
 */
export function splitHostPort(text: string): { host: string; port: string | undefined } | { problem: string } {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    if (!net.isIPv6(bracketed[1]!)) return { problem: 'what is in [brackets] is not an IPv6 address' };
    return { host: bracketed[1]!, port: bracketed[2] };
  }
  if (net.isIPv6(text)) return { host: text, port: undefined };
  const colon = text.lastIndexOf(':');
  const host = colon === -1 ? text : text.slice(0, colon);
  if (host.includes(':')) return { problem: 'write IPv6 addresses as [ADDR]:PORT' };
  return { host, port: colon === -1 ? undefined : text.slice(colon + 1) };
}

/**
 * Splits HOST:PORT, [IPV6]:PORT, :PORT (every address) or a bare host/IPv6 address
 * (default port). Go-style, as the v1 program takes it. A server to connect to needs a host and a
 * port above 0; a listen address may leave the host out (every address) and take port 0 (any free
 * port).
 */
export function parseHostPort(value: unknown, what: string, { hostRequired }: { hostRequired: boolean }): HostPort {
  if (typeof value !== 'string' || value.trim() === '') {
    throw badOption(what, 'expected HOST:PORT', 'EBADADDR');
  }
  const text = value.trim();
  const bad = (why: string): never => {
    throw badOption(what, why, 'EBADADDR');
  };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) bad('give HOST:PORT, not a URL');
  const parts = splitHostPort(text);
  if ('problem' in parts) return bad(parts.problem);
  const { host, port: portText } = parts;
  const minPort = hostRequired ? 1 : 0;
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < minPort || Number(portText) > 65535) {
      bad(`the port must be ${minPort}..65535`);
    }
    port = Number(portText);
  }
  if (host !== '' && !net.isIP(host) && !isHostName(host)) bad('the host is not a host name or IP address');
  if (host === '') {
    if (hostRequired) bad('a host is required');
    return { host: undefined, port };
  }
  return { host, port };
}

export function formatHostPort({ host, port }: { host: string | undefined; port: number }): string {
  if (host === undefined) return `:${port}`;
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One address or network with its prefix length, e.g. 10.1.1.1/30. */
export interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

export function formatCidr({ address, prefix }: Cidr): string {
  return `${address}/${prefix}`;
}

/** ADDRESS/PREFIX, IPv4 or IPv6; `code` is the TtunError code for the option it belongs to. */
export function parseCidr(value: string, what: string, code: TtunErrorCode): Cidr {
  const text = value.trim();
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!match) throw badOption(what, 'expected ADDRESS/PREFIX, e.g. 10.1.1.1/30 or fc11::1/126', code);
  const address = match[1]!;
  const family = net.isIPv4(address) ? 4 : net.isIPv6(address) && !address.includes('%') ? 6 : undefined;
  if (family === undefined) throw badOption(what, 'the address is not an IP address', code);
  const prefix = Number(match[2]);
  const maxPrefix = family === 4 ? 32 : 128;
  if (prefix > maxPrefix) throw badOption(what, `the prefix must be 0..${maxPrefix}`, code);
  return { family, address, prefix };
}

/** The address as 4 (IPv4) or 16 (IPv6) bytes. */
function addressBytes({ family, address }: Cidr): number[] {
  if (family === 4) return address.split('.').map(Number);
  return ipv6Groups(address)!.flatMap((g) => [g >> 8, g & 0xff]);
}

/** 4 or 16 bytes as an address, IPv6 the canonical way (RFC 5952). */
function formatAddress(family: 4 | 6, bytes: number[]): string {
  if (family === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // Node writes an IPv6 address the canonical way when it resolves it.
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

/** The network of a CIDR: the address with every bit past the prefix cleared. */
function networkOf(cidr: Cidr): string {
  const bytes = addressBytes(cidr).map((byte, i) => {
    const kept = Math.max(0, Math.min(8, cidr.prefix - i * 8));
    return byte & ((0xff << (8 - kept)) & 0xff);
  });
  return formatAddress(cidr.family, bytes);
}

/**
 * The peer's tunnel address when this end's implies it: the other host of a two-host network
 * (/30 or /126: hosts 1 and 2, as v1's 10.1.1.1/30 and fc11::1/126; /31 or /127: the other
 * address). Undefined for a wider network, where the peer could be any of its hosts.
 */
export function peerTunnelAddress(cidr: Cidr): string | undefined {
  const bytes = addressBytes(cidr);
  const last = bytes.length - 1;
  const bits = cidr.family === 4 ? 32 : 128;
  const host = bytes[last]! & 0b11;
  if (cidr.prefix === bits - 1) bytes[last]! ^= 1;
  else if (cidr.prefix === bits - 2 && (host === 1 || host === 2)) bytes[last] = (bytes[last]! & ~0b11) | (3 - host);
  else return undefined;
  return formatAddress(cidr.family, bytes);
}

/** This end's TUN addresses; at least one family. */
export interface TunAddresses {
  ipv4?: Cidr;
  ipv6?: Cidr;
}

/** `address`: "CIDR[,CIDR]", one IPv4 and/or one IPv6 address of this end; default v1's for the role. */
export function parseTunAddresses(value: unknown, role: Role): TunAddresses {
  if (value === undefined) {
    const a = TUNNEL_ADDRESSES[role];
    return { ipv4: { family: 4, address: a.ipv4, prefix: a.ipv4Prefix }, ipv6: { family: 6, address: a.ipv6, prefix: a.ipv6Prefix } };
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw badOption('address', 'expected CIDR[,CIDR], e.g. 10.1.1.1/30,fc11::1/126', 'EBADTUNADDR');
  }
  const addresses: TunAddresses = {};
  for (const part of value.split(',')) {
    const cidr = parseCidr(part, 'address', 'EBADTUNADDR');
    const bytes = addressBytes(cidr);
    const unusable =
      bytes.every((b) => b === 0) ||
      (cidr.family === 4 ? bytes[0] === 127 || bytes[0]! >= 224 : bytes.slice(0, 15).every((b) => b === 0) || bytes[0] === 0xff);
    if (unusable) {
      throw badOption('address', 'an unspecified, loopback or multicast address cannot be a TUN address', 'EBADTUNADDR');
    }
    if (cidr.prefix === 0) throw badOption('address', 'the prefix must be at least 1', 'EBADTUNADDR');
    const key = cidr.family === 4 ? 'ipv4' : 'ipv6';
    if (addresses[key] !== undefined) {
      throw badOption('address', 'give at most one IPv4 and one IPv6 address', 'EBADTUNADDR');
    }
    addresses[key] = cidr;
  }
  return addresses;
}

/** `route`: networks to route through the TUN, each NETWORK/PREFIX with no host bits set. */
export function parseRoutes(value: unknown, platform: NodeJS.Platform = process.platform): Cidr[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) {
    throw badOption('route', "expected a list of CIDRs, e.g. ['198.51.100.0/24']", 'EBADROUTE');
  }
  const routes = (list as string[]).map((text) => {
    const cidr = parseCidr(text, 'route', 'EBADROUTE');
    const network = networkOf(cidr);
    if (addressBytes({ ...cidr, address: network }).join() !== addressBytes(cidr).join()) {
      throw badOption('route', `host bits are set; the network is ${network}/${cidr.prefix}`, 'EBADROUTE');
    }
    return cidr;
  });
  if (routes.length > 0 && platform === 'win32') {
    throw badOption('route', 'routes are not supported on Windows yet: add them in the up command (route add ...)', 'EBADROUTE');
  }
  return routes;
}

/** Linux allows 15 bytes in an interface name. */
const MAX_DEV_NAME = 15;

/**
 * `dev`: the TUN's name. Linux: letters, digits, `-`, `_`, `.`, at most 15, and at most one `%d`
 * (the kernel puts the first free number there, as in the default `ttun%d`); macOS: `utunN`.
 */
export function parseDevName(value: unknown, platform: NodeJS.Platform = process.platform): string | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : '';
  if (platform === 'darwin') {
    if (!/^utun\d+$/.test(text)) throw badOption('dev', 'macOS names a TUN utunN, e.g. utun7', 'EBADDEV');
    return text;
  }
  const allowed = /^[A-Za-z0-9_.-]*(%d)?[A-Za-z0-9_.-]*$/.test(text) && text !== '.' && text !== '..';
  if (text === '' || !allowed || Buffer.byteLength(text) > MAX_DEV_NAME) {
    throw badOption('dev', `use up to ${MAX_DEV_NAME} letters, digits, '-', '_' or '.' (and at most one %d)`, 'EBADDEV');
  }
  return text;
}

/** `up`/`down`: a shell command line, run with /bin/sh -c. */
export function parseHookCommand(value: unknown, name: 'up' | 'down'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '' || value.includes('\0')) {
    throw badOption(name, 'give a shell command line', 'EBADHOOK');
  }
  return value;
}
