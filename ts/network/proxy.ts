/**
 * The client's way out through an HTTP or SOCKS5 proxy: which proxy to use (the `proxy` option, or
 * the environment read as curl reads it), and the negotiation that turns a connection to the proxy
 * into a byte stream to the server. Credentials live only in ProxyConfig's username and password:
 * everything shown to a person (logs, errors, events) uses `display`, which has none.
 */
import { lookup } from 'node:dns/promises';
import net, { type Socket } from 'node:net';
import { formatHostPort, type HostPort, ipv6Groups, isHostName, splitHostPort } from '../options/values.js';
import { within } from '../shared/deadline.js';
import { badOption, TtunError } from '../shared/errors.js';
import { PROXY_MAX_REPLY_HEADER_BYTES } from '../shared/tunables.js';
import { DelimiterMissingError, SocketClosedError, SocketReader } from './socket-reader.js';

export const PROXY_SCHEMES = ['http', 'socks5', 'socks5h'] as const;
export type ProxyScheme = (typeof PROXY_SCHEMES)[number];
/** curl's default when a proxy URL has no port, whatever the scheme. */
export const DEFAULT_PROXY_PORT = 1080;
/** `proxy: 'none'` (CLI `--proxy none`): connect directly, whatever the environment says. */
export const NO_PROXY_VALUE = 'none';
/** Where proxy URLs come from in the environment, in the order curl looks (the first one set wins). */
export const PROXY_ENV_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY'] as const;
export const NO_PROXY_ENV_VARIABLES = ['no_proxy', 'NO_PROXY'] as const;

export interface ProxyConfig {
  scheme: ProxyScheme;
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** scheme://host:port, what logs, errors and events show: never the credentials. */
  display: string;
}

/** Which way the client's connections go. */
export interface ProxyChoice {
  /** undefined: straight to the server. */
  proxy?: ProxyConfig;
  /** Where the proxy was named: 'option' (the proxy option, CLI --proxy) or an environment variable. */
  from?: string;
  /** Set when the environment named a proxy but NO_PROXY matched the server: the two variables. */
  bypass?: { variable: string; noProxy: string };
}

/** Why a connection through the proxy failed: the proxy refused or misbehaved, or wanted other credentials. */
export type ProxyFailure = 'proxy' | 'proxy-auth';

export class ProxyError extends Error {
  /** EPROXY or EPROXYAUTH, as other connection errors carry theirs. */
  readonly code: string;

  constructor(
    readonly reason: ProxyFailure,
    message: string,
  ) {
    super(message);
    this.name = 'ProxyError';
    this.code = reason === 'proxy-auth' ? 'EPROXYAUTH' : 'EPROXY';
  }
}

/**
 * The proxy for connections to `target`: `option` when given ('none' for no proxy), else the
 * environment as curl reads it for an https URL: https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY
 * (first set wins), unless no_proxy / NO_PROXY matches the target. A URL that cannot be used
 * throws a TtunError (EBADPROXY); a malformed variable that NO_PROXY bypasses is never read (as curl).
 */
export function chooseProxy(option: unknown, target: HostPort, env: NodeJS.ProcessEnv): ProxyChoice {
  if (option !== undefined) {
    if (typeof option !== 'string') {
      throw new TtunError(`bad proxy (${typeof option}): use a URL such as http://host:3128, or "none"`, 'EBADPROXY');
    }
    if (option.trim().toLowerCase() === NO_PROXY_VALUE) return {};
    return { proxy: parseProxyUrl(option, 'proxy'), from: 'option' };
  }
  const named = firstSet(env, PROXY_ENV_VARIABLES);
  if (named === undefined) return {};
  const noProxy = firstSet(env, NO_PROXY_ENV_VARIABLES);
  if (noProxy !== undefined && target.host !== undefined && noProxyMatches(noProxy.value, target.host, target.port)) {
    return { bypass: { variable: named.name, noProxy: noProxy.name } };
  }
  return { proxy: parseProxyUrl(named.value, named.name), from: named.name };
}

function firstSet(env: NodeJS.ProcessEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value };
  }
  return undefined;
}

/**
 * Whether a NO_PROXY list (comma or space separated) covers `host`:`port`, by curl's rules: `*`
 * covers everything; `example.com` and `.example.com` cover example.com and every name under it;
 * an IP address or CIDR block (`10.0.0.0/8`, `fd00::/8`) covers addresses given as such (names are
 * not resolved for this). Beyond curl, an entry with a port (`host:20203`, `[::1]:20203`) covers only that port.
 */
export function noProxyMatches(list: string, host: string, port: number): boolean {
  const name = host.replace(/\.$/, '').toLowerCase();
  const family = net.isIP(name);
  for (const entry of list.split(/[\s,]+/).filter(Boolean)) {
    if (entry === '*') return true;
    let pattern = entry;
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      pattern = bracketed[1]!;
      entryPort = bracketed[2];
    } else if (!net.isIPv6(entry.split('/')[0]!)) {
      const withPort = /^(.*):(\d+)$/.exec(entry);
      if (withPort) {
        pattern = withPort[1]!;
        entryPort = withPort[2];
      }
    }
    if (entryPort !== undefined && Number(entryPort) !== port) continue;
    if (addressMatches(pattern, name, family)) return true;
    if (family !== 0) continue;
    const domain = pattern
      .replace(/^\*?\./, '')
      .replace(/\.$/, '')
      .toLowerCase();
    if (domain !== '' && (name === domain || name.endsWith(`.${domain}`))) return true;
  }
  return false;
}

/** Whether an IP or CIDR `pattern` covers the address `name` (family 4 or 6; 0: a name, never covered). */
function addressMatches(pattern: string, name: string, family: number): boolean {
  const [address, prefixText] = pattern.split('/') as [string, string | undefined];
  const patternFamily = net.isIP(address);
  if (patternFamily === 0 || family !== patternFamily) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const block = new net.BlockList();
  if (prefixText === undefined) {
    block.addAddress(address, type);
  } else {
    const prefix = /^\d+$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) return false;
    block.addSubnet(address, prefix, type);
  }
  return block.check(name, type);
}

/**
 * `scheme://[user[:password]@]host[:port]` (percent-encoded credentials), as curl takes it: no
 * scheme means http, no port means 1080. `where` names the source for the error message. The
 * message quotes the URL with its credentials replaced by `***`.
 */
export function parseProxyUrl(text: string, where: string): ProxyConfig {
  const bad = (why: string): never => {
    if (where === 'proxy') throw badOption('proxy', why, 'EBADPROXY');
    throw new TtunError(`bad proxy (from ${where}): ${why}`, 'EBADPROXY');
  };
  const trimmed = text.trim();
  if (trimmed === '') bad('empty');
  let scheme = 'http';
  let rest = trimmed;
  const withScheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(trimmed);
  if (withScheme) {
    scheme = withScheme[1]!.toLowerCase();
    rest = withScheme[2]!;
  }
  if (scheme === 'https') bad('ttun does not speak TLS to a proxy (https://): use http://, socks5:// or socks5h://');
  if (!(PROXY_SCHEMES as readonly string[]).includes(scheme)) {
    bad('unknown scheme: use http://, socks5:// or socks5h://');
  }
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    try {
      username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
      password = colon === -1 ? '' : decodeURIComponent(userinfo.slice(colon + 1));
    } catch {
      bad('the user name or password has a bad %-escape');
    }
    if (username === '') bad('the user name before "@" is empty');
    if (scheme !== 'http' && (Buffer.byteLength(username!) > 255 || Buffer.byteLength(password!) > 255)) {
      bad('SOCKS5 takes a user name and password of at most 255 bytes each');
    }
  }
  rest = rest.replace(/\/$/, '');
  if (/[/?#]/.test(rest)) bad('a proxy URL has no path, query or fragment');
  const parts = splitHostPort(rest);
  if ('problem' in parts) return bad(parts.problem);
  const { host, port: portText } = parts;
  // A URL brackets an IPv6 host even without a port.
  if (!rest.startsWith('[') && host.includes(':')) bad('write an IPv6 address as [ADDR]:PORT');
  if (host === '') bad('the proxy host is missing');
  if (!net.isIP(host) && !isHostName(host)) bad('the host is not a host name or IP address (write IPv6 addresses as [ADDR])');
  let port = DEFAULT_PROXY_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) bad('the port must be 1..65535');
  }
  const display = `${scheme}://${formatHostPort({ host, port })}`;
  return { scheme: scheme as ProxyScheme, host, port, username, password, display };
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Asks the proxy on `socket` (connected to it) for a stream to `target`, within `timeoutMs`.
 * Resolves with the bytes the proxy passed on after its reply (the server's first bytes may
 * share a segment with it) and the socket paused; they belong to the handshake. Rejects with a
 * ProxyError whose message names the proxy by its display form and quotes what it answered.
 */
export async function openThroughProxy(
  socket: Socket,
  proxy: ProxyConfig,
  target: { host: string; port: number },
  timeoutMs: number,
): Promise<Buffer> {
  const reader = new SocketReader(socket);
  try {
    const work = proxy.scheme === 'http' ? httpConnect(socket, reader, proxy, target) : socks5Connect(socket, reader, proxy, target);
    await within(
      work,
      timeoutMs,
      () => new ProxyError('proxy', `proxy ${proxy.display} did not complete the connection within ${timeoutMs / 1000} s`),
    );
    return reader.detach();
  } catch (err) {
    reader.detach();
    if (err instanceof SocketClosedError) {
      throw new ProxyError('proxy', `proxy ${proxy.display} closed the connection before it was set up (${err.message})`);
    }
    throw err;
  }
}

/** Text from a proxy, safe to put on one log line. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 120 ? `${clean.slice(0, 120)}...` : clean;
}

async function httpConnect(socket: Socket, reader: SocketReader, proxy: ProxyConfig, target: { host: string; port: number }) {
  const authority = formatHostPort(target);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== undefined) {
    const basic = Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64');
    lines.push(`Proxy-Authorization: Basic ${basic}`);
  }
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let head: Buffer;
  try {
    head = await reader.readUntil(HEADER_END, PROXY_MAX_REPLY_HEADER_BYTES);
  } catch (err) {
    if (err instanceof DelimiterMissingError) {
      throw new ProxyError('proxy', `proxy ${proxy.display} sent no end of its reply header within ${PROXY_MAX_REPLY_HEADER_BYTES} bytes`);
    }
    throw err;
  }
  const statusLine = head.toString('latin1').split('\r\n')[0]!;
  const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!status) throw new ProxyError('proxy', `proxy ${proxy.display} did not answer as an HTTP proxy: "${printable(statusLine)}"`);
  const code = Number(status[1]);
  const shown = `${code} ${printable(status[2] ?? '')}`.trim();
  if (code >= 200 && code < 300) return;
  // 407 is the proxy's own; some proxies (tinyproxy among them) answer a CONNECT with bad credentials 401.
  if (code === 407 || code === 401) {
    throw new ProxyError(
      'proxy-auth',
      proxy.username === undefined
        ? `proxy ${proxy.display} requires authentication (${shown}): put user:password@ in the proxy URL`
        : `proxy ${proxy.display} rejected the user name or password (${shown})`,
    );
  }
  throw new ProxyError('proxy', `proxy ${proxy.display} refused the connection to ${authority}: ${shown}`);
}

const SOCKS_VERSION = 5;
const SOCKS_NO_AUTH = 0x00;
const SOCKS_USER_PASS = 0x02;
const SOCKS_NO_ACCEPTABLE = 0xff;
const SOCKS_CONNECT = 1;
const SOCKS_IPV4 = 1;
const SOCKS_NAME = 3;
const SOCKS_IPV6 = 4;

/** RFC 1928's reply codes, in words. */
const SOCKS_REPLIES: Record<number, string> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

async function socks5Connect(socket: Socket, reader: SocketReader, proxy: ProxyConfig, target: { host: string; port: number }) {
  const authority = formatHostPort(target);
  const address = await socksAddress(proxy, target.host);
  const methods = proxy.username !== undefined ? [SOCKS_NO_AUTH, SOCKS_USER_PASS] : [SOCKS_NO_AUTH];
  socket.write(Buffer.from([SOCKS_VERSION, methods.length, ...methods]));
  const [version, method] = await reader.read(2);
  if (version !== SOCKS_VERSION) {
    throw new ProxyError('proxy', `proxy ${proxy.display} is not a SOCKS5 proxy (it answered version ${version})`);
  }
  if (method === SOCKS_NO_ACCEPTABLE) {
    throw new ProxyError(
      'proxy-auth',
      proxy.username === undefined
        ? `SOCKS5 proxy ${proxy.display} requires authentication: put user:password@ in the proxy URL`
        : `SOCKS5 proxy ${proxy.display} accepts neither no authentication nor a user name and password`,
    );
  }
  if (method === SOCKS_USER_PASS && proxy.username !== undefined) {
    const user = Buffer.from(proxy.username);
    const pass = Buffer.from(proxy.password ?? '');
    // RFC 1929: version 1 of the username/password sub-negotiation.
    socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
    const [, status] = await reader.read(2);
    if (status !== 0) throw new ProxyError('proxy-auth', `SOCKS5 proxy ${proxy.display} rejected the user name or password`);
  } else if (method !== SOCKS_NO_AUTH) {
    throw new ProxyError('proxy', `SOCKS5 proxy ${proxy.display} chose authentication method ${method}, which ttun did not offer`);
  }
  const port = Buffer.from([target.port >> 8, target.port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([SOCKS_VERSION, SOCKS_CONNECT, 0]), address, port]));
  const [replyVersion, reply, , addressType] = await reader.read(4);
  if (replyVersion !== SOCKS_VERSION) {
    throw new ProxyError('proxy', `proxy ${proxy.display} is not a SOCKS5 proxy (it answered version ${replyVersion})`);
  }
  if (reply !== 0) {
    const words = SOCKS_REPLIES[reply!] ?? `reply code ${reply}`;
    throw new ProxyError('proxy', `SOCKS5 proxy ${proxy.display} could not connect to ${authority}: ${words}`);
  }
  // The bound address that follows is of no use here, but it must be read off exactly: the server's bytes come next.
  if (addressType === SOCKS_IPV4) await reader.read(4 + 2);
  else if (addressType === SOCKS_IPV6) await reader.read(16 + 2);
  else if (addressType === SOCKS_NAME) await reader.read((await reader.read(1))[0]! + 2);
  else throw new ProxyError('proxy', `SOCKS5 proxy ${proxy.display} answered with an unknown address type ${addressType}`);
}

/**
 * The target as SOCKS5 carries it: an address as such; a name resolved here for socks5://, or
 * handed to the proxy for socks5h:// (so that only the proxy needs to know it).
 */
async function socksAddress(proxy: ProxyConfig, host: string): Promise<Buffer> {
  let ip = host;
  if (net.isIP(host) === 0) {
    if (proxy.scheme === 'socks5h') {
      const name = Buffer.from(host);
      if (name.length > 255) throw new ProxyError('proxy', `the server name is too long for SOCKS5 (${name.length} bytes)`);
      return Buffer.concat([Buffer.from([SOCKS_NAME, name.length]), name]);
    }
    try {
      ip = (await lookup(host)).address;
    } catch (err) {
      throw new ProxyError(
        'proxy',
        `cannot resolve ${host} here (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); with socks5h:// the proxy resolves it`,
      );
    }
  }
  if (net.isIPv4(ip)) return Buffer.from([SOCKS_IPV4, ...ip.split('.').map(Number)]);
  return Buffer.concat([Buffer.from([SOCKS_IPV6]), ipv6Bytes(ip)]);
}

/** The 16 bytes of an IPv6 address. */
function ipv6Bytes(address: string): Buffer {
  const bytes = Buffer.alloc(16);
  for (const [i, group] of (ipv6Groups(address) ?? []).entries()) bytes.writeUInt16BE(group, i * 2);
  return bytes;
}
