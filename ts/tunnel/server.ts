/**
 * The server: listens, authenticates connections, and carries packets for at most one live peer.
 *
 * Unlike v1 (one connection at a time, others wait in the backlog), it keeps listening while a
 * session is up: a newcomer must complete the handshake within the deadline and only then
 * replaces the live session. A failed or slow handshake never touches the live session. At most
 * maxPendingHandshakes connections may be in their handshake at once, and at most
 * maxPendingHandshakesPerSource from one source (IPv4 address, IPv6 /64); a newcomer beyond either
 * bound evicts an older handshake, chosen so that a source can only push out its own.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import type { DataSession } from '../datapath/session.js';
import { admissionSourceOf, DEFAULT_LISTEN, type HostPort, parseCount, parseHostPort, parseTimeoutMs } from '../options/values.js';
import { badOption, HandshakeError, type RejectReason, TtunError } from '../shared/errors.js';
import { MAX_PENDING_HANDSHAKES, MAX_PENDING_HANDSHAKES_PER_SOURCE, NONCE_TIMEOUT_MS } from '../shared/tunables.js';
import { abortError, type CommonOptions, describePeer, Endpoint, type EndpointConfig, parseCommonOptions } from './endpoint.js';
import type { ServerEvents } from './events.js';
import { serverHandshake } from './handshake.js';

export interface ServerOptions extends CommonOptions {
  /** HOST:PORT, [IPV6]:PORT or :PORT (every address, IPv4 and IPv6). Default ":20203". */
  listen?: string;
  /**
   * Connections allowed in their handshake at once, whole integer >= 1; a newcomer beyond it
   * evicts the oldest handshake of the source holding the most. Default 64.
   */
  maxPendingHandshakes?: number;
  /**
   * Of those, how many one source (an IPv4 address, an IPv6 /64) may hold; a newcomer beyond it
   * evicts that source's own oldest. Whole integer >= 1, at most maxPendingHandshakes.
   * Default 8 (or maxPendingHandshakes, if that is smaller).
   */
  maxPendingHandshakesPerSource?: number;
  /**
   * How long a new connection may stay silent before it sends the client's 16-byte nonce, in ms
   * (> 0; the whole handshake's deadline still applies). Default 5000.
   */
  nonceTimeoutMs?: number;
}

/** The server's own options, validated before anything (TUN, socket) is created. */
interface ServerLimits {
  maxPending: number;
  maxPendingPerSource: number;
  nonceTimeoutMs: number;
}

function parseServerLimits(options: ServerOptions): ServerLimits {
  const maxPending = parseCount(options.maxPendingHandshakes, 'maxPendingHandshakes', MAX_PENDING_HANDSHAKES);
  const maxPendingPerSource = parseCount(
    options.maxPendingHandshakesPerSource,
    'maxPendingHandshakesPerSource',
    Math.min(MAX_PENDING_HANDSHAKES_PER_SOURCE, maxPending),
  );
  if (maxPendingPerSource > maxPending) {
    throw badOption('maxPendingHandshakesPerSource', `it cannot exceed the number of pending handshakes allowed in all (${maxPending})`);
  }
  const nonceTimeoutMs = parseTimeoutMs(options.nonceTimeoutMs, 'nonceTimeoutMs', NONCE_TIMEOUT_MS);
  return { maxPending, maxPendingPerSource, nonceTimeoutMs };
}

/**
 * Every check createServer makes before it creates the TUN or a socket (`ttun check` runs exactly
 * this); throws the TtunError createServer would reject with. Returns where to listen and the
 * admission limits.
 */
export function checkServerOptions(options: ServerOptions): { listen: HostPort; limits: ServerLimits } {
  const { listen, limits, common } = parseServerConfig(options);
  common.psk.fill(0);
  return { listen, limits };
}

/** Every option of createServer, parsed once: what the server is made from (checkServerOptions runs it too). */
function parseServerConfig(options: ServerOptions): { listen: HostPort; limits: ServerLimits; common: EndpointConfig } {
  if (typeof options !== 'object' || options === null) throw new TtunError('createServer needs an options object', 'EBADOPTION');
  const listen = parseHostPort(options.listen ?? DEFAULT_LISTEN, 'listen', { hostRequired: false });
  const limits = parseServerLimits(options);
  return { listen, limits, common: parseCommonOptions(options, 'server') };
}

interface Pending {
  socket: Socket;
  source: string;
}

/** Its events: ServerEvents (events.ts). */
export class TtunServer extends Endpoint<ServerEvents> {
  /** Set by start() once listening. */
  private listener: Server | undefined;
  /** Every pending handshake, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<Socket, Pending>();
  /** The same, per source, each oldest first. */
  private readonly pendingBySource = new Map<string, Set<Socket>>();
  private readonly limits: ServerLimits;
  private live: { session: DataSession; peer: string } | undefined;
  private readonly rejected: Record<RejectReason, number> = { timeout: 0, auth: 0, 'bad-frame': 0, closed: 0, busy: 0, attach: 0 };

  private constructor(common: EndpointConfig, limits: ServerLimits) {
    super('server', common);
    this.limits = limits;
    this.handshake.nonceTimeoutMs = limits.nonceTimeoutMs;
  }

  /** Creates the TUN device and starts listening. Rejects with a TtunError on bad options or when either fails. */
  static async start(options: ServerOptions): Promise<TtunServer> {
    const { listen, limits, common } = parseServerConfig(options);
    if (options.signal?.aborted) {
      common.psk.fill(0);
      throw abortError(options.signal);
    }
    const server = new TtunServer(common, limits);
    // Routes and --up before the port opens: whatever --up prepares is there for the first peer.
    await server.startUp(async () => {
      server.listener = await server.connections.listen(listen, {
        connection: (socket) => server.onConnection(socket),
        // A passing accept failure: log and go on.
        acceptError: (code, message) => server.emit('accept-error', code, message),
        failed: (message) => server.emit('error', new TtunError(message, 'ELISTEN')),
      });
    });
    await server.followSignal(options.signal);
    return server;
  }

  /** The address actually bound (useful with port 0). */
  address(): AddressInfo {
    return this.listener!.address() as AddressInfo;
  }

  /** The authenticated peer, if a session is up. */
  get peer(): string | undefined {
    return this.live?.peer;
  }

  get pendingHandshakes(): number {
    return this.pending.size;
  }

  /** Connections that did not become a session since start, by reason (each 'rejected' event counts once). */
  rejections(): Record<RejectReason, number> {
    return { ...this.rejected };
  }

  protected override liveSession(): DataSession | undefined {
    return this.live?.session;
  }

  /** Stops listening, ends the session and pending handshakes, removes the TUN device. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listenerClosed = new Promise<void>((resolve) => (this.listener ? this.listener.close(() => resolve()) : resolve()));
    for (const socket of this.pending.keys()) socket.destroy();
    this.pending.clear();
    this.pendingBySource.clear();
    this.live?.session.end({ kind: 'closing', detail: '' });
    await this.closeCarrier();
    await Promise.all([listenerClosed, this.stopMetrics()]);
  }

  private onConnection(socket: Socket): void {
    const peer = describePeer(socket);
    if (this.closed) {
      socket.destroy();
      return;
    }
    const source = admissionSourceOf(socket.remoteAddress);
    this.makeRoomFor(source);
    this.emit('connection', peer);
    this.addPending(socket, source);
    serverHandshake(socket, this.handshake).then(
      ({ sessionKey, leftover }) => {
        this.removePending(socket);
        if (this.closed || socket.destroyed) {
          socket.destroy();
          return;
        }
        this.replaceLiveSession(socket, peer, sessionKey, leftover);
      },
      (err: unknown) => {
        // An evicted handshake was reported when it was evicted.
        const wasPending = this.removePending(socket);
        socket.destroy();
        if (this.closed || !wasPending) return;
        const reason = err instanceof HandshakeError ? err.reason : 'bad-frame';
        this.reject(peer, reason, (err as Error).message);
      },
    );
  }

  /**
   * Evicts a pending handshake if a newcomer from `source` would exceed a bound. Evicting rather
   * than refusing the newcomer keeps a real client from being locked out by connections that came
   * before it, and choosing whom to evict by source keeps one address (or /64) from pushing out
   * anyone but itself: over its own bound it loses its own oldest; when the total is full, the
   * source holding the most loses its oldest.
   */
  private makeRoomFor(source: string): void {
    const { maxPending, maxPendingPerSource } = this.limits;
    const own = this.pendingBySource.get(source);
    if (own !== undefined && own.size >= maxPendingPerSource) {
      this.evict(own.values().next().value!, `evicted: ${own.size} handshakes already pending from ${source}`);
    } else if (this.pending.size >= maxPending) {
      let heaviest: Set<Socket> | undefined;
      // Oldest first, so among equally heavy sources the one holding the oldest handshake loses it.
      for (const { source: s } of this.pending.values()) {
        const set = this.pendingBySource.get(s)!;
        if (heaviest === undefined || set.size > heaviest.size) heaviest = set;
      }
      this.evict(heaviest!.values().next().value!, `evicted: ${this.pending.size} handshakes already in progress`);
    }
  }

  private evict(socket: Socket, message: string): void {
    const peer = describePeer(socket);
    this.removePending(socket);
    socket.destroy();
    this.reject(peer, 'busy', message);
  }

  private reject(peer: string, reason: RejectReason, message: string): void {
    this.rejected[reason] += 1;
    this.emit('rejected', peer, reason, message);
  }

  private addPending(socket: Socket, source: string): void {
    this.pending.set(socket, { socket, source });
    let set = this.pendingBySource.get(source);
    if (set === undefined) {
      set = new Set();
      this.pendingBySource.set(source, set);
    }
    set.add(socket);
  }

  /** Forgets a pending handshake; false if it was no longer pending (evicted, or the server closed). */
  private removePending(socket: Socket): boolean {
    const entry = this.pending.get(socket);
    if (entry === undefined) return false;
    this.pending.delete(socket);
    const set = this.pendingBySource.get(entry.source)!;
    set.delete(socket);
    if (set.size === 0) this.pendingBySource.delete(entry.source);
    return true;
  }

  private replaceLiveSession(socket: Socket, peer: string, sessionKey: Buffer, leftover: Buffer): void {
    const mptcp = this.connections.negotiatedMptcp(socket);
    let session: DataSession;
    try {
      // Attached before the old session ends: if this fails, the live session is kept.
      session = this.startSession(socket, 'server', sessionKey, leftover);
    } catch (err) {
      // Out of file descriptors or threads, say: this connection is lost, the server is not.
      this.reject(peer, 'attach', (err as Error).message);
      return;
    }
    this.live?.session.end({ kind: 'replaced', detail: peer });
    const live = { session, peer };
    this.live = live;
    this.emit('up', peer, { mptcp });
    void session.ended.then((reason) => {
      if (this.live === live) this.live = undefined;
      this.emit('down', peer, reason);
    });
  }
}
