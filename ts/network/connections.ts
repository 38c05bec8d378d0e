/**
 * Making connections, for both roles: the server's listener (TCP, or MPTCP through the addon) and
 * what every accepted connection gets, the client's connect (MPTCP or TCP, through a proxy when
 * there is one), the TCP options every tunnel connection carries, and whether a connection
 * negotiated MPTCP. Who may connect, which connection is live and when to retry is the server's
 * and the client's business (server.ts, client.ts); this module only makes the connections.
 *
 * Errors carry a `.code`: a TtunError with the errno (EADDRINUSE, ECONNREFUSED, ETIMEDOUT, ...) or
 * a ProxyError (EPROXY, EPROXYAUTH). Callers branch on codes, never on the wording.
 */
import { lookup } from 'node:dns/promises';
import net, { type Socket } from 'node:net';
import type { NativeBinding } from '../core/native.js';
import { formatHostPort, type HostPort } from '../options/values.js';
import { knownCode, TtunError } from '../shared/errors.js';
import { KEEPALIVE_SECS, LISTEN_BACKLOG, NOTSENT_LOWAT, USER_TIMEOUT_MS } from '../shared/tunables.js';
import { openThroughProxy, type ProxyConfig, ProxyError } from './proxy.js';
import { socketFd } from './socket-options.js';

/** What the kernel answers when it has no MPTCP: the one error that means "use TCP instead". */
const NO_MPTCP = 'EPROTONOSUPPORT';

/**
 * Accept errors that say the system is short of something for now (file descriptors, buffers) or
 * that one connection went away before it was accepted: the next accept may well succeed.
 */
const TEMPORARY_ACCEPT_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ECONNABORTED', 'EAGAIN', 'EINTR', 'EPROTO', 'EPERM']);

/** What a listener reports to its owner. */
export interface ListenHandlers {
  /** A new connection, already given its TCP options and an error handler. */
  connection(socket: Socket): void;
  /** Accepting one connection failed for a passing reason; the listener goes on. */
  acceptError(code: string, message: string): void;
  /** The listener failed for good. */
  failed(message: string): void;
}

/** Where the client's connections go: the server, straight or through a proxy. */
export interface Route {
  server: HostPort;
  proxy?: ProxyConfig;
}

/** A connection that reaches the server; `fromServer`: the server's first bytes, read with the proxy's reply. */
export interface Opened {
  socket: Socket;
  fromServer: Buffer | undefined;
}

/** One endpoint's maker of connections: it remembers whether MPTCP is available and whether 'degraded' was reported. */
export class Connections {
  private mptcpAvailable: boolean;
  private reportedRefusedOptions = false;

  /**
   * `mptcp`: asked for; it needs the addon, and is dropped for good once the kernel says it has
   * none. `degraded` is called at most once, the first time a connection refuses a TCP option.
   */
  constructor(
    private readonly native: NativeBinding | undefined,
    mptcp: boolean,
    private readonly degraded: (message: string) => void,
  ) {
    // MPTCP sockets are made by the addon.
    this.mptcpAvailable = mptcp && native !== undefined;
  }

  /** Whether connections are made with MPTCP (asked for, and available on this system). */
  get mptcp(): boolean {
    return this.mptcpAvailable;
  }

  /**
   * Listens on `address` (no host: every IPv4 and IPv6 address), with MPTCP where asked for and
   * the kernel has it. Rejects with a TtunError whose code is the errno (EADDRINUSE,
   * EADDRNOTAVAIL, EACCES, ENOTFOUND, ...).
   */
  async listen(address: HostPort, handlers: ListenHandlers): Promise<net.Server> {
    const listener = net.createServer((socket) => {
      this.prepare(socket);
      handlers.connection(socket);
    });
    try {
      const fd = this.mptcp ? await this.mptcpListenFd(address) : undefined;
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        const done = () => {
          listener.off('error', reject);
          resolve();
        };
        // No host: Node binds :: with IPv4-mapped addresses, i.e. every IPv4 and IPv6 address.
        if (fd !== undefined) listener.listen({ fd }, done);
        else listener.listen({ host: address.host, port: address.port }, done);
      });
    } catch (err) {
      listener.close();
      throw listenError(err as NodeJS.ErrnoException, `listen on ${formatHostPort(address)}`);
    }
    listener.on('error', (err: NodeJS.ErrnoException) => {
      // Node's accept loop reports these on the listener and keeps listening.
      if (err.code !== undefined && TEMPORARY_ACCEPT_ERRORS.has(err.code)) handlers.acceptError(err.code, err.message);
      else handlers.failed(`listener failed: ${err.message}`);
    });
    return listener;
  }

  /** An MPTCP listening socket, or undefined (plain TCP from now on) where the kernel has no MPTCP. */
  private async mptcpListenFd({ host, port }: HostPort): Promise<number | undefined> {
    const address = host === undefined ? null : net.isIP(host) ? host : (await lookup(host)).address;
    try {
      return this.native!.mptcpListen(address, port, LISTEN_BACKLOG);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== NO_MPTCP) throw err;
      this.mptcpAvailable = false;
      return undefined;
    }
  }

  /**
   * A connection that reaches `route.server`: connected (to the proxy, when there is one, which is
   * then asked for the server) within `timeoutMs` for each step. Rejects with a TtunError
   * `cannot connect to …` (code: the errno; ABORT_ERR when `signal` aborted it) or a ProxyError.
   */
  async open(route: Route, timeoutMs: number, signal?: AbortSignal): Promise<Opened> {
    const { server, proxy } = route;
    const socket = await this.connect(proxy ?? server, timeoutMs, signal).catch((err: NodeJS.ErrnoException) => {
      const what = proxy === undefined ? formatHostPort(server) : `proxy ${proxy.display}`;
      throw new TtunError(`cannot connect to ${what}: ${err.message}`, knownCode(err.code, 'ECONNECT'));
    });
    if (proxy === undefined) return { socket, fromServer: undefined };
    // Closing the socket ends the negotiation at once.
    const onAbort = () => socket.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const fromServer = await openThroughProxy(socket, proxy, { host: server.host!, port: server.port }, timeoutMs);
      return { socket, fromServer };
    } catch (err) {
      socket.destroy();
      throw err instanceof ProxyError ? err : new ProxyError('proxy', (err as Error).message);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** A connection to `destination`, with MPTCP where asked for and the kernel has it, else TCP. */
  async connect(destination: HostPort, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
    if (this.mptcp) {
      const socket = await this.connectMptcp(destination, timeoutMs, signal);
      if (socket) return socket;
    }
    return this.connectTcp(destination, timeoutMs, signal);
  }

  /** An MPTCP connection, or undefined where the kernel has no MPTCP (then plain TCP from now on). */
  private async connectMptcp({ host, port }: HostPort, timeoutMs: number, signal?: AbortSignal): Promise<Socket | undefined> {
    const address = net.isIP(host!) ? host! : (await lookup(host!)).address;
    let fd: number;
    try {
      fd = await this.native!.mptcpConnect(address, port, timeoutMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== NO_MPTCP) throw err;
      this.mptcpAvailable = false;
      return undefined;
    }
    const socket = new net.Socket({ fd, readable: true, writable: true });
    // The addon's connect cannot be interrupted; an abort that came meanwhile wins now.
    if (signal?.aborted) {
      socket.destroy();
      throw aborted();
    }
    this.prepare(socket);
    return socket;
  }

  private connectTcp({ host, port }: HostPort, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(aborted());
        return;
      }
      const socket = net.connect({ host, port });
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', fail);
        socket.removeListener('close', onClose);
      };
      const fail = (err: Error) => {
        settle();
        socket.destroy();
        reject(err);
      };
      const onAbort = () => fail(aborted());
      // destroy() while connecting emits 'close' and no 'error'.
      const onClose = () => fail(aborted());
      const timer = setTimeout(() => fail(withCode(new Error('timed out'), 'ETIMEDOUT')), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', fail);
      socket.once('close', onClose);
      socket.once('connect', () => {
        settle();
        this.prepare(socket);
        resolve(socket);
      });
    });
  }

  /** What every tunnel connection gets first: errors never become uncaught exceptions, and its TCP options. */
  private prepare(socket: Socket): void {
    // Until the session takes the socket over, its owner learns of failures from the handshake.
    socket.on('error', () => {});
    this.tune(socket);
  }

  /** TCP options for a connection; options the socket refuses are reported once ('degraded'). */
  tune(socket: Socket): void {
    const refused = tuneSocket(socket, this.native);
    if (refused.length > 0 && !this.reportedRefusedOptions) {
      this.reportedRefusedOptions = true;
      this.degraded(`the connection refused ${refused.join(', ')}: a dead peer may take longer to notice`);
    }
  }

  /** Whether an established connection runs MPTCP (asked before the data path takes its fd). */
  negotiatedMptcp(socket: Socket): boolean {
    const fd = socketFd(socket);
    return this.mptcp && fd !== undefined && this.native?.isMptcp(fd) === true;
  }
}

/**
 * TCP_NODELAY and keepalive through Node, and through the addon what Node has no API for
 * (TCP_USER_TIMEOUT, the keepalive interval, TCP_NOTSENT_LOWAT). v1 frames have no room for
 * keepalive messages, so dead-peer detection lives here, in TCP. Returns the options the socket
 * refused (e.g. TCP_USER_TIMEOUT on an MPTCP socket of some kernels); without the addon (the
 * WebAssembly core) only Node's own options are set.
 */
export function tuneSocket(socket: Socket, native: NativeBinding | undefined): string[] {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_SECS * 1000);
  const fd = socketFd(socket);
  if (native === undefined || fd === undefined) return [];
  return native.tuneSocket(fd, { keepaliveSecs: KEEPALIVE_SECS, userTimeoutMs: USER_TIMEOUT_MS, notsentLowat: NOTSENT_LOWAT });
}

function withCode(err: Error, code: string): NodeJS.ErrnoException {
  return Object.assign(err, { code });
}

/** Node's own code for an aborted operation. */
function aborted(): NodeJS.ErrnoException {
  return withCode(new Error('aborted'), 'ABORT_ERR');
}

const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is already in use',
  EADDRNOTAVAIL: 'no such local address',
  EACCES: 'permission denied',
  // What a systemd unit's SocketBindDeny= answers for a port it does not allow.
  EPERM: 'binding this port is not permitted',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not found',
};

/**
 * Why a listener could not be opened, in words, for every listener ttun has (the tunnel port,
 * metrics): `what` says which, e.g. "listen on [::]:20203".
 */
export function listenError(err: NodeJS.ErrnoException, what: string): TtunError {
  const code = err.code === 'EAI_AGAIN' ? 'ENOTFOUND' : err.code;
  return new TtunError(`cannot ${what}: ${LISTEN_FAILURES[err.code ?? ''] ?? err.message}`, knownCode(code, 'ELISTEN'));
}
