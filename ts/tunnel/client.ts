/**
 * The client: one TUN device for the life of the process, and a connection that is re-made
 * forever. Backoff between attempts: 1 s doubling to 30 s, back to 1 s after a session that
 * lasted over 60 s (v1's schedule). The delay separates the starts of two attempts, so a session
 * that was up longer than the delay is retried at once rather than after a further dead wait.
 * The TUN and its addresses survive reconnects. Through a proxy (proxy.ts), every attempt, reconnects
 * included, connects to the proxy and asks it for the server before the handshake starts.
 */
import type { Socket } from 'node:net';
import type { DataSession } from '../datapath/session.js';
import type { Opened } from '../network/connections.js';
import { chooseProxy, type ProxyChoice, type ProxyConfig } from '../network/proxy.js';
import { formatHostPort, type HostPort, parseHostPort } from '../options/values.js';
import { HandshakeError, TtunError } from '../shared/errors.js';
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, BACKOFF_RESET_AFTER_MS } from '../shared/tunables.js';
import { abortError, type CommonOptions, describePeer, Endpoint, type EndpointConfig, parseCommonOptions } from './endpoint.js';
import type { ClientEvents, FailReason } from './events.js';
import { clientHandshake, type HandshakeResult } from './handshake.js';

export interface ClientOptions extends CommonOptions {
  /** The server, HOST:PORT or [IPV6]:PORT (port defaults to 20203). */
  server: string;
  /**
   * Reach the server through a proxy: `http://[user:password@]host:port` (HTTP CONNECT, Basic
   * authentication), `socks5://[user:password@]host:port` (SOCKS5 with username/password; the
   * server's name is resolved here) or `socks5h://…` (the proxy resolves it). Credentials are
   * percent-encoded in the URL and never appear in events or errors. No port means 1080 (as curl).
   *
   * When undefined, the environment decides, as curl reads it for https: https_proxy, HTTPS_PROXY,
   * all_proxy, ALL_PROXY (the first one set), unless no_proxy / NO_PROXY matches the server
   * (`*`, names with their subdomains, IP addresses, CIDR blocks, entries with :PORT). `'none'`
   * ignores the environment and connects directly. A URL ttun cannot use, in the option or in the
   * variable chosen, rejects connect() with a TtunError (EBADPROXY).
   *
   * With `mptcp`, the connection to the proxy is the one made with MPTCP (the proxy's own
   * connection to the server is up to the proxy).
   */
  proxy?: string;
}

/** The reconnect schedule: the first delay, doubling up to the cap, reset by a session that lasted long. */
export interface ReconnectSchedule {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

/** v1's schedule, the only one connect() and the CLI use. */
export const V1_RECONNECT_SCHEDULE: Readonly<ReconnectSchedule> = Object.freeze({
  initialMs: BACKOFF_INITIAL_MS,
  maxMs: BACKOFF_MAX_MS,
  resetAfterMs: BACKOFF_RESET_AFTER_MS,
});

/** The next reconnect delay after one that was `previousMs`, given how long the last session lasted. */
export function nextBackoff(
  previousMs: number | undefined,
  lastSessionMs: number | undefined,
  schedule: ReconnectSchedule = V1_RECONNECT_SCHEDULE,
): number {
  if (previousMs === undefined || (lastSessionMs !== undefined && lastSessionMs > schedule.resetAfterMs)) {
    return schedule.initialMs;
  }
  return Math.min(previousMs * 2, schedule.maxMs);
}

/**
 * How long to wait before the next attempt: what is left of `delayMs` since the last attempt
 * started. Attempts are spaced by the backoff; time spent in a session counts towards it.
 */
export function reconnectWait(delayMs: number, sinceLastAttemptMs: number): number {
  return Math.max(0, delayMs - sinceLastAttemptMs);
}

/** The 'failed' reason of a connection that could not be opened, by the error's code; any other code: 'connect'. */
const FAILURE_BY_CODE: Record<string, FailReason> = { EPROXY: 'proxy', EPROXYAUTH: 'proxy-auth' };

/**
 * Every check connect makes before it creates the TUN or a socket (`ttun check` runs exactly this);
 * throws the TtunError connect would reject with. Returns the server's address and the way to it.
 */
export function checkClientOptions(options: ClientOptions): { server: HostPort; route: ProxyChoice } {
  const { server, route, common } = parseClientConfig(options);
  common.psk.fill(0);
  return { server, route };
}

/** Every option of connect, parsed once: what the client is made from (checkClientOptions runs it too). */
function parseClientConfig(options: ClientOptions): { server: HostPort; route: ProxyChoice; common: EndpointConfig } {
  if (typeof options !== 'object' || options === null) throw new TtunError('connect needs an options object', 'EBADOPTION');
  const server = parseHostPort(options.server, 'server', { hostRequired: true });
  const route = chooseProxy(options.proxy, server, process.env);
  return { server, route, common: parseCommonOptions(options, 'client') };
}

/** Its events: ClientEvents (events.ts). */
export class TtunClient extends Endpoint<ClientEvents> {
  readonly server: HostPort;
  /** The proxy connections go through, without credentials, and where it was named ('option' or a variable); undefined: direct. */
  readonly proxy: { url: string; from: string } | undefined;
  /** Set when the environment named a proxy that NO_PROXY bypasses for this server: both variables. */
  readonly proxyBypass: { variable: string; noProxy: string } | undefined;
  private readonly proxyConfig: ProxyConfig | undefined;
  private socket: Socket | undefined;
  private session: DataSession | undefined;
  /** Aborted by close(): a connect still under way gives up at once. */
  private readonly closing = new AbortController();
  private wakeSleep: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    { server, route, common }: { server: HostPort; route: ProxyChoice; common: EndpointConfig },
    private readonly schedule: ReconnectSchedule,
  ) {
    super('client', common);
    this.server = server;
    this.proxyConfig = route.proxy;
    this.proxy = route.proxy && { url: route.proxy.display, from: route.from! };
    this.proxyBypass = route.bypass;
  }

  /**
   * Creates the TUN device (with its routes and --up) and starts connecting. Rejects with a
   * TtunError on bad options, no TUN, or a route or --up that failed. `schedule` is internal, not
   * an option: tests shorten it so that a whole schedule (cap, reset) plays out in seconds rather
   * than minutes; connect() and the CLI always use v1's.
   */
  static async start(options: ClientOptions, schedule: ReconnectSchedule = V1_RECONNECT_SCHEDULE): Promise<TtunClient> {
    const config = parseClientConfig(options);
    if (options.signal?.aborted) {
      config.common.psk.fill(0);
      throw abortError(options.signal);
    }
    const client = new TtunClient(config, schedule);
    await client.startUp();
    await client.followSignal(options.signal);
    // Started on a later turn of the event loop so listeners added right after `await connect()` see every event.
    client.loop = new Promise((resolve) => setImmediate(resolve)).then(() => client.run());
    return client;
  }

  protected override liveSession(): DataSession | undefined {
    return this.session;
  }

  get connected(): boolean {
    return this.session !== undefined && !this.session.isEnded;
  }

  /** Ends the connection, stops reconnecting and removes the TUN device. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.wakeSleep?.();
    this.session?.end({ kind: 'closing', detail: '' });
    this.socket?.destroy();
    await this.loop;
    await this.closeCarrier();
    await this.stopMetrics();
  }

  private async run(): Promise<void> {
    let delay: number | undefined;
    while (!this.closed) {
      const attemptStartedAt = Date.now();
      const sessionMs = await this.attempt();
      if (this.closed) break;
      delay = nextBackoff(delay, sessionMs, this.schedule);
      const wait = reconnectWait(delay, Date.now() - attemptStartedAt);
      this.reconnects += 1;
      this.emit('reconnecting', wait);
      await this.sleep(wait);
    }
  }

  /** One connection: connect, handshake, carry packets until it ends. Returns the session length, if one came up. */
  private async attempt(): Promise<number | undefined> {
    const target = formatHostPort(this.server);
    const via = this.proxyConfig?.display;
    this.emit('connecting', target, via);
    let opened: Opened;
    try {
      opened = await this.connections.open({ server: this.server, proxy: this.proxyConfig }, this.handshake.timeoutMs, this.closing.signal);
    } catch (err) {
      if (!this.closed) this.emit('failed', FAILURE_BY_CODE[(err as { code?: string }).code ?? ''] ?? 'connect', (err as Error).message);
      return undefined;
    }
    const { socket, fromServer } = opened;
    if (this.closed) {
      socket.destroy();
      return undefined;
    }
    this.socket = socket;
    const peer = via === undefined ? describePeer(socket) : `${target} via proxy ${via}`;
    let result: HandshakeResult;
    try {
      result = await clientHandshake(socket, this.handshake, fromServer);
    } catch (err) {
      socket.destroy();
      // A client is never evicted ('busy' is the server's): anything else the handshake says is its reason.
      const reason: FailReason = err instanceof HandshakeError && err.reason !== 'busy' ? err.reason : 'bad-frame';
      // The message says how far the handshake got, and so whether the key can be the cause.
      if (!this.closed) this.emit('failed', reason, (err as Error).message);
      return undefined;
    }
    if (this.closed) {
      socket.destroy();
      return undefined;
    }
    const mptcp = this.connections.negotiatedMptcp(socket);
    let session: DataSession;
    try {
      session = this.startSession(socket, 'client', result.sessionKey, result.leftover);
    } catch (err) {
      // Out of file descriptors or threads, say: this attempt is lost, the client retries.
      this.emit('failed', 'attach', (err as Error).message);
      return undefined;
    }
    this.session = session;
    this.emit('up', peer, { mptcp });
    const reason = await session.ended;
    this.session = undefined;
    this.socket = undefined;
    if (!this.closed) this.emit('down', peer, reason);
    return Date.now() - session.startedAt;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
