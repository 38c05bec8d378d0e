/**
 * The server: listens, authenticates connections, and carries packets for at most one live peer.
 *
 * Unlike v1 (one connection at a time, others wait in the backlog), it keeps listening while a
 * session is up: a newcomer must complete the handshake within the deadline and only then
 * replaces the live session. A failed or slow handshake never touches the live session, and at
 * most maxPendingHandshakes connections may be in their handshake at once (the oldest is evicted).
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_LISTEN, formatHostPort, MAX_PENDING_HANDSHAKES, parseHostPort } from './config.js';
import { type CommonOptions, describePeer, Endpoint } from './endpoint.js';
import { HandshakeError, TtunError } from './errors.js';
import { serverHandshake } from './handshake.js';
import type { DataSession } from './session.js';

export interface ServerOptions extends CommonOptions {
  /** HOST:PORT, [IPV6]:PORT or :PORT (every address, IPv4 and IPv6). Default ":20203". */
  listen?: string;
  /** Connections allowed in their handshake at once; a newcomer beyond it evicts the oldest. Default 16. */
  maxPendingHandshakes?: number;
}

/**
 * Events: 'connection' (peer), 'up' (peer, { mptcp }), 'rejected' (peer, reason, message),
 * 'down' (peer, reason), 'fatal' (message).
 */
export class TtunServer extends Endpoint {
  private readonly listener: net.Server;
  private readonly pending = new Set<Socket>();
  private readonly maxPending: number;
  private live: { session: DataSession; peer: string } | undefined;

  private constructor(options: ServerOptions) {
    super('server', options);
    this.maxPending = options.maxPendingHandshakes ?? MAX_PENDING_HANDSHAKES;
    this.listener = net.createServer((socket) => this.onConnection(socket));
  }

  /** Creates the TUN device and starts listening. Rejects with a TtunError on bad options or when either fails. */
  static async start(options: ServerOptions): Promise<TtunServer> {
    const { host, port } = parseHostPort(options.listen ?? DEFAULT_LISTEN, 'listen address', { hostRequired: false });
    const server = new TtunServer(options);
    try {
      const fd = server.mptcp ? await server.mptcpListenFd(host, port) : undefined;
      await new Promise<void>((resolve, reject) => {
        server.listener.once('error', reject);
        // No host: Node binds :: with IPv4-mapped addresses, i.e. every IPv4 and IPv6 address.
        const done = () => {
          server.listener.off('error', reject);
          resolve();
        };
        if (fd !== undefined) server.listener.listen({ fd }, done);
        else server.listener.listen({ host, port }, done);
      });
    } catch (err) {
      server.closeDevice();
      throw listenError(err as NodeJS.ErrnoException, formatHostPort({ host, port }));
    }
    server.listener.on('error', (err) => server.emit('fatal', `listener failed: ${err.message}`));
    return server;
  }

  /** An MPTCP listening socket, or undefined (plain TCP) where the kernel has no MPTCP. */
  private async mptcpListenFd(host: string | undefined, port: number): Promise<number | undefined> {
    const address = host === undefined ? null : net.isIP(host) ? host : (await lookup(host)).address;
    try {
      return this.native!.mptcpListen(address, port, 511);
    } catch (err) {
      if ((err as { code?: string }).code !== 'EPROTONOSUPPORT') throw err;
      this.mptcp = false;
      return undefined;
    }
  }

  /** The address actually bound (useful with port 0). */
  address(): AddressInfo {
    return this.listener.address() as AddressInfo;
  }

  /** The authenticated peer, if a session is up. */
  get peer(): string | undefined {
    return this.live?.peer;
  }

  get pendingHandshakes(): number {
    return this.pending.size;
  }

  /** Stops listening, ends the session and pending handshakes, removes the TUN device. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listenerClosed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
    this.live?.session.end('server closing');
    this.closeDevice();
    await listenerClosed;
  }

  private onConnection(socket: Socket): void {
    const peer = describePeer(socket);
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.pending.size >= this.maxPending) {
      // Evict the oldest pending handshake rather than refuse the newcomer: a flood of silent
      // connections then cannot lock a real client out, it only shortens everyone's wait.
      const oldest = this.pending.values().next().value!;
      this.pending.delete(oldest);
      oldest.destroy();
      this.emit('rejected', describePeer(oldest), 'busy', `evicted: ${this.maxPending} handshakes already in progress`);
    }
    this.emit('connection', peer);
    this.pending.add(socket);
    // Errors before the handshake takes over must not become uncaught exceptions.
    socket.on('error', () => {});
    this.tune(socket);
    serverHandshake(socket, this.handshake).then(
      ({ sessionKey, leftover }) => {
        this.pending.delete(socket);
        if (this.closed || socket.destroyed) {
          socket.destroy();
          return;
        }
        this.replaceLiveSession(socket, peer, sessionKey, leftover);
      },
      (err: unknown) => {
        this.pending.delete(socket);
        socket.destroy();
        if (this.closed) return;
        const reason = err instanceof HandshakeError ? err.reason : 'bad-frame';
        this.emit('rejected', peer, reason, (err as Error).message);
      },
    );
  }

  private replaceLiveSession(socket: Socket, peer: string, sessionKey: Buffer, leftover: Buffer): void {
    this.live?.session.end(`replaced by ${peer}`);
    const mptcp = this.negotiatedMptcp(socket);
    const session = this.startSession(socket, 'server', sessionKey, leftover);
    const live = { session, peer };
    this.live = live;
    this.emit('up', peer, { mptcp });
    void session.ended$.then((reason) => {
      if (this.live === live) this.live = undefined;
      this.emit('down', peer, reason);
    });
  }
}

function listenError(err: NodeJS.ErrnoException, address: string): Error {
  switch (err.code) {
    case 'EADDRINUSE':
      return new TtunError(`cannot listen on ${address}: the port is already in use`, err.code);
    case 'EADDRNOTAVAIL':
      return new TtunError(`cannot listen on ${address}: no such local address`, err.code);
    case 'EACCES':
      return new TtunError(`cannot listen on ${address}: permission denied`, err.code);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TtunError(`cannot listen on ${address}: host name not found`, err.code);
    default:
      return new TtunError(`cannot listen on ${address}: ${err.message}`, err.code ?? 'ELISTEN');
  }
}
