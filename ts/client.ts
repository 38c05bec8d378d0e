/**
 * The client: one TUN device for the life of the process, and a connection that is re-made
 * forever. Backoff between attempts: 1 s doubling to 30 s, back to 1 s after a session that
 * lasted over 60 s (v1's schedule). The delay separates the starts of two attempts, so a session
 * that was up longer than the delay is retried at once rather than after a further dead wait.
 * The TUN and its addresses survive reconnects.
 */
import { lookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import net from 'node:net';
import { formatHostPort, type HostPort, parseHostPort } from './config.js';
import { type CommonOptions, describePeer, Endpoint } from './endpoint.js';
import { HandshakeError, TtunError } from './errors.js';
import { clientHandshake, type HandshakeResult } from './handshake.js';
import type { DataSession } from './session.js';

export interface ClientOptions extends CommonOptions {
  /** The server, HOST:PORT or [IPV6]:PORT (port defaults to 20203). */
  server: string;
}

export const BACKOFF_INITIAL_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;
/** A session that lasted longer than this resets the backoff. */
export const BACKOFF_RESET_AFTER_MS = 60_000;

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

/**
 * Events: 'connecting' (server), 'up' (peer, { mptcp }), 'failed' (reason, message) when a connection or
 * handshake fails, 'down' (peer, reason) when a session ends, 'reconnecting' (delayMs), 'fatal' (message).
 */
export class TtunClient extends Endpoint {
  readonly server: HostPort;
  private socket: Socket | undefined;
  private session: DataSession | undefined;
  private wakeSleep: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    options: ClientOptions,
    private readonly schedule: ReconnectSchedule,
  ) {
    const server = parseHostPort(options.server, 'server address', { hostRequired: true });
    super('client', options);
    this.server = server;
  }

  /**
   * Creates the TUN device and starts connecting. Rejects with a TtunError on bad options or no TUN.
   * `schedule` is internal, not an option: tests shorten it so that a whole schedule (cap, reset)
   * plays out in seconds rather than minutes; connect() and the CLI always use v1's.
   */
  static async start(options: ClientOptions, schedule: ReconnectSchedule = V1_RECONNECT_SCHEDULE): Promise<TtunClient> {
    if (typeof options !== 'object' || options === null) throw new TtunError('connect needs an options object', 'EBADOPTION');
    const client = new TtunClient(options, schedule);
    try {
      await client.startMetrics();
    } catch (err) {
      client.closeDevice();
      throw err;
    }
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
    this.wakeSleep?.();
    this.session?.end('client closing');
    this.socket?.destroy();
    await this.loop;
    this.closeDevice();
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
    this.emit('connecting', target);
    let socket: Socket;
    try {
      socket = await this.connectSocket();
    } catch (err) {
      if (!this.closed) this.emit('failed', 'connect', `cannot connect to ${target}: ${(err as Error).message}`);
      return undefined;
    }
    const peer = describePeer(socket);
    let result: HandshakeResult;
    try {
      result = await clientHandshake(socket, this.handshake);
    } catch (err) {
      socket.destroy();
      const reason = err instanceof HandshakeError ? err.reason : 'bad-frame';
      // The message says how far the handshake got, and so whether the key can be the cause.
      if (!this.closed) this.emit('failed', reason, (err as Error).message);
      return undefined;
    }
    if (this.closed) {
      socket.destroy();
      return undefined;
    }
    const mptcp = this.negotiatedMptcp(socket);
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
    const reason = await session.ended$;
    this.session = undefined;
    this.socket = undefined;
    if (!this.closed) this.emit('down', peer, reason);
    return Date.now() - session.startedAt;
  }

  private async connectSocket(): Promise<Socket> {
    if (this.mptcp) {
      const socket = await this.connectMptcp();
      if (socket) return socket;
    }
    return this.connectTcp();
  }

  /** An MPTCP connection, or undefined where the kernel has no MPTCP (then plain TCP from now on). */
  private async connectMptcp(): Promise<Socket | undefined> {
    const { host, port } = this.server;
    const address = net.isIP(host!) ? host! : (await lookup(host!)).address;
    let fd: number;
    try {
      fd = await this.native!.mptcpConnect(address, port, this.handshake.timeoutMs);
    } catch (err) {
      const message = (err as Error).message;
      if (!message.startsWith('EPROTONOSUPPORT')) throw new Error(message.replace(/^\w+: /, ''));
      this.mptcp = false;
      return undefined;
    }
    const socket = new net.Socket({ fd, readable: true, writable: true });
    this.socket = socket;
    socket.on('error', () => {});
    this.tune(socket);
    return socket;
  }

  private connectTcp(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.server.host, port: this.server.port });
      this.socket = socket;
      const timer = setTimeout(() => socket.destroy(new Error('timed out')), this.handshake.timeoutMs);
      // close() destroys a connecting socket without an error: only 'close' says the attempt is over.
      const closedWhileConnecting = () => {
        clearTimeout(timer);
        reject(new Error('closed while connecting'));
      };
      socket.once('close', closedWhileConnecting);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        socket.removeListener('close', closedWhileConnecting);
        socket.on('error', () => {});
        this.tune(socket);
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
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
