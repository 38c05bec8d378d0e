/**
 * What server and client share: validated options, the derived PSK key, the TUN device and the
 * counters. Each subclass adds its own connection lifecycle.
 */
import { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { type Core, loadCore, loadNative, type NativeBinding, tryLoadNative } from '../core/native.js';
import type { EndpointStats } from '../datapath/endpoint-stats.js';
import { createNativeTun, type TunInfo } from '../datapath/native-tun.js';
import { type PacketCarrier, TunCarrier, UserspaceCarrier } from '../datapath/packet-carrier.js';
import { DataSession } from '../datapath/session.js';
import { hookEnvironment, runHook } from '../host/hooks.js';
import { addRoutes } from '../host/routes.js';
import { Connections } from '../network/connections.js';
import { MetricsServer, parseMetricsAddress } from '../observability/metrics.js';
import {
  type Cidr,
  type CipherName,
  type DataPath,
  formatCidr,
  formatHostPort,
  parseBoolean,
  parseCipher,
  parseDataPath,
  parseDevName,
  parseHookCommand,
  parseMtu,
  parsePsk,
  parseRoutes,
  parseTimeoutMs,
  parseTunAddresses,
  type Role,
  type TunAddresses,
} from '../options/values.js';
import { TtunError } from '../shared/errors.js';
import { DROP_REPORT_INTERVAL_MS, HANDSHAKE_TIMEOUT_MS } from '../shared/tunables.js';
import type { DropKind, EndpointEvents } from './events.js';
import type { HandshakeParams } from './handshake.js';

export interface CommonOptions {
  /** The pre-shared key: the raw bytes of the string (UTF-8), as v1 takes `-k`. */
  psk: string | Uint8Array;
  /** Default chacha20-poly1305. Both ends must use the same one. */
  cipher?: CipherName;
  /** TUN MTU, 1280..65519, default 1280. */
  mtu?: number;
  /** Handshake deadline in ms (> 0), default 10000 (v1). */
  handshakeTimeoutMs?: number;
  /**
   * Multipath TCP (Linux): make the connection with IPPROTO_MPTCP. It falls back to plain TCP by
   * itself when the peer does not speak MPTCP, and to a plain TCP socket where the kernel has no
   * MPTCP. Default false (opt in: TCP_USER_TIMEOUT, which dead-peer detection relies on, is refused by
   * MPTCP sockets on some kernels, this one included).
   */
  mptcp?: boolean;
  /**
   * false: no TUN device and no root needed; the packets the peer sends come out of packets()
   * and send() takes packets for the peer. Default true.
   */
  tun?: boolean;
  /**
   * Serve Prometheus metrics over HTTP at /metrics on this address: `PORT` or `:PORT` (127.0.0.1 only),
   * `HOST:PORT`, `[IPV6]:PORT`; `0.0.0.0:PORT` or `[::]:PORT` for every address. Bound before the
   * endpoint starts (a port in use fails the start) and closed by close(). Default: no metrics.
   */
  metrics?: string;
  /**
   * Who carries the connection once a session is up (with a TUN). 'auto' (default): the addon's
   * threads read and write the socket themselves wherever Node has an fd for it, else (Windows)
   * Node does and packet batches cross the JS event loop. 'event-loop': Node always does; slower,
   * for testing and measuring that path on systems where it would not be taken.
   */
  dataPath?: DataPath;
  /**
   * Linux: send a TCP super-packet (the kernel's offload hands over up to 64 KiB at once) to the
   * peer's own tunnel address as one frame instead of MTU-sized ones, once the peer has answered a
   * probe showing it takes such packets (see the README's "Super-frames"). The peer's address is
   * the other host of this end's /30 or /31 (/126, /127); a wider network gets none. Default true.
   */
  superFrames?: boolean;
  /** The TUN's name; default the first free ttunN (Linux). Linux: up to 15 characters, `%d` for the first free number. */
  dev?: string;
  /** "CIDR[,CIDR]": this end's IPv4 and/or IPv6 address with prefix; default v1's for the role (server .1 / ::1, client .2 / ::2). */
  address?: string;
  /** Networks routed through the TUN once it is up (Linux `ip route`, macOS `route`); they go when it is removed. */
  route?: string[];
  /**
   * A shell command (/bin/sh -c) run once the TUN is up with its addresses and routes; start-up
   * fails if it fails. Environment: TTUN_DEV, TTUN_ROLE, TTUN_MTU, TTUN_ADDRESS4, TTUN_ADDRESS6
   * (empty when that family is not configured), and no inherited TTUN_* variable (never TTUN_PSK).
   */
  up?: string;
  /** A shell command run by close() before the TUN is removed (same environment); a failure is reported ('hook-failed'), not thrown. */
  down?: string;
  /** Aborting it closes the endpoint (before start-up completes: the start rejects with ABORT_ERR). */
  signal?: AbortSignal;
}

/** What send() did with the packets (userspace mode). */
export type SendResult = 'sent' | 'queued' | 'dropped';

/** The start was aborted by the `signal` option, before or while it ran. */
export function abortError(signal: AbortSignal): TtunError {
  return new TtunError('the start was aborted (signal)', 'ABORT_ERR', { cause: signal.reason });
}

/** What is done to the TUN once it exists and before it goes. */
interface TunSetup {
  routes: Cidr[];
  up: string | undefined;
  down: string | undefined;
}

/**
 * Every check of the options server and client share, before anything is created. `ttun check`
 * runs it too (through checkServerOptions / checkClientOptions), so a check added here is one that
 * `ttun check` makes. The PSK comes back as a copy the caller must zero.
 */
export function parseCommonOptions(options: CommonOptions, role: Role): EndpointConfig {
  const useTun = parseBoolean(options.tun, 'tun', true);
  const tunOnly = ['dev', 'address', 'route', 'up', 'down'] as const;
  const given = tunOnly.find((option) => options[option] !== undefined);
  if (!useTun && given !== undefined)
    throw new TtunError(`${given} needs a TUN device: it cannot be combined with tun: false`, 'EBADOPTION');
  const setup: TunSetup = {
    routes: parseRoutes(options.route),
    up: parseHookCommand(options.up, 'up'),
    down: parseHookCommand(options.down, 'down'),
  };
  return {
    cipher: parseCipher(options.cipher),
    mptcp: parseBoolean(options.mptcp, 'mptcp', false),
    useTun,
    mtu: parseMtu(options.mtu),
    timeoutMs: parseTimeoutMs(options.handshakeTimeoutMs, 'handshakeTimeoutMs', HANDSHAKE_TIMEOUT_MS),
    dataPath: parseDataPath(options.dataPath),
    superFrames: parseBoolean(options.superFrames, 'superFrames', true),
    metricsAt: options.metrics === undefined ? undefined : parseMetricsAddress(options.metrics),
    name: parseDevName(options.dev),
    addresses: parseTunAddresses(options.address, role),
    setup,
    psk: parsePsk(options.psk),
  };
}

/** The common options, parsed once: what an Endpoint is made from. */
export interface EndpointConfig {
  cipher: CipherName;
  mptcp: boolean;
  useTun: boolean;
  mtu: number;
  timeoutMs: number;
  dataPath: DataPath;
  superFrames: boolean;
  metricsAt: { host: string; port: number } | undefined;
  name: string | undefined;
  addresses: TunAddresses;
  setup: TunSetup;
  /** A copy of the key; whoever gets it zeroes it once done. */
  psk: Buffer;
}

// @types/node's EventEmitter<T> takes a map of event names to argument tuples (its EventMap<T>).
// biome-ignore lint/suspicious/noExplicitAny: EventMap's own element type
export abstract class Endpoint<Events extends EndpointEvents & Record<keyof Events, any[]> = EndpointEvents> extends EventEmitter<Events> {
  readonly role: Role;
  readonly cipher: CipherName;
  /** Whether connections are made with MPTCP (requested, and available on this system). */
  get mptcp(): boolean {
    return this.connections.mptcp;
  }
  /** Which protocol core this endpoint runs on: the native addon, or WebAssembly (userspace mode only). */
  get coreKind(): 'native' | 'wasm' {
    return this.core.kind;
  }
  /** The TUN device, or null in userspace mode (tun: false). */
  readonly tun: TunInfo | null;
  /** The addon: always there with a TUN; in userspace mode only where it exists (else the WebAssembly core). */
  protected readonly native: NativeBinding | undefined;
  protected readonly core: Core;
  /** Makes this endpoint's connections: listener, connect, TCP options, MPTCP. */
  protected readonly connections: Connections;
  /** Where the endpoint's packets come from and go to: its TUN device, or JavaScript (userspace mode). */
  private readonly carrier: PacketCarrier;
  protected readonly handshake: HandshakeParams;
  protected closed = false;
  protected sessions = 0;
  protected reconnects = 0;
  private readonly dropWatch: NodeJS.Timeout;
  private readonly metricsAt: { host: string; port: number } | undefined;
  private metrics: MetricsServer | undefined;
  private readonly setup: TunSetup;
  /** Set once routes and --up have succeeded: from then on --down runs before the TUN goes. */
  private tunSetUp = false;
  private carrierClosed: Promise<void> | undefined;

  /** `config`: parseCommonOptions' result; its copy of the key is zeroed here once K is derived. */
  protected constructor(role: Role, config: EndpointConfig) {
    super();
    const { cipher, mptcp, useTun, mtu, timeoutMs, metricsAt, dataPath, superFrames, name, addresses, setup, psk } = config;
    this.role = role;
    this.cipher = cipher;
    this.metricsAt = metricsAt;
    this.setup = setup;
    this.native = useTun ? loadNative() : tryLoadNative();
    this.core = loadCore();
    this.connections = new Connections(this.native, mptcp, (message) => this.notify('degraded', message));
    // Only K is kept; the PSK bytes are dropped here.
    this.handshake = {
      core: this.core,
      cipher: this.cipher,
      pskKey: this.core.pskKey(psk),
      timeoutMs,
    };
    psk.fill(0);
    if (!useTun) {
      this.carrier = new UserspaceCarrier(this.core, () => this.notify('drain'));
    } else {
      const { device, info } = createNativeTun(this.native!, { name, mtu, addresses, superFrames }, (message) =>
        this.notify('error', new TtunError(message, 'ETUN')),
      );
      this.carrier = new TunCarrier(device, { ...info, routes: this.setup.routes.map(formatCidr) }, dataPath);
    }
    this.tun = this.carrier.tun;
    this.dropWatch = this.watchDrops();
  }

  /**
   * Emits one of the events every endpoint has (the subclasses add their own): typed against
   * EndpointEvents, which every endpoint's event map extends.
   */
  protected notify<K extends keyof EndpointEvents>(event: K, ...args: EndpointEvents[K]): boolean {
    return (this as unknown as EventEmitter<EndpointEvents>).emit(event, ...(args as never));
  }

  /** Ends the session, stops listening or reconnecting, removes the TUN device. */
  abstract close(): Promise<void>;

  /** `await using server = await createServer(...)` closes it at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Ties the endpoint to the `signal` option once it has started: an abort closes it. An abort
   * that came during the start-up closes it at once and rejects the start with ABORT_ERR.
   */
  protected async followSignal(signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return;
    if (signal.aborted) {
      await this.close();
      throw abortError(signal);
    }
    signal.addEventListener('abort', () => void this.close(), { once: true });
  }

  /**
   * Drops happen in the native data path, packet by packet; every few seconds the counters are
   * compared and any increase becomes one 'dropped' event (kind, count), so a peer sending junk
   * is logged without a line per packet.
   */
  private watchDrops(): NodeJS.Timeout {
    let last = this.carrier.stats();
    const timer = setInterval(() => {
      const now = this.carrier.stats();
      const increases: Array<[DropKind, number]> = [
        ['not-ip', now.rxDroppedNotIp - last.rxDroppedNotIp],
        ['tun-refused', now.rxDroppedTunWrite - last.rxDroppedTunWrite],
        ['too-big', now.txDroppedTooBig - last.txDroppedTooBig],
        ['unreadable', now.txDroppedUnreadable - last.txDroppedUnreadable],
      ];
      for (const [kind, count] of increases) if (count > 0) this.notify('dropped', kind, count);
      last = now;
    }, DROP_REPORT_INTERVAL_MS);
    timer.unref();
    return timer;
  }

  stats(): EndpointStats {
    return { ...this.carrier.stats(), sessions: this.sessions, reconnects: this.reconnects };
  }

  /** When the live session came up (ms since the epoch), or undefined while no session is up. */
  get sessionStartedAt(): number | undefined {
    const session = this.liveSession();
    return session === undefined || session.isEnded ? undefined : session.startedAt;
  }

  protected abstract liveSession(): DataSession | undefined;

  /** Where the `metrics` option serves (useful with port 0), or undefined without it. */
  metricsAddress(): AddressInfo | undefined {
    return this.metrics?.address();
  }

  /** Binds the `metrics` listener, if asked for; the start-up calls this before the endpoint is announced. */
  private async startMetrics(): Promise<void> {
    if (this.metricsAt === undefined) return;
    this.metrics = await MetricsServer.listen(this, this.metricsAt, (message) => this.notify('degraded', message));
  }

  protected async stopMetrics(): Promise<void> {
    await this.metrics?.close();
  }

  /**
   * Userspace mode only: the IP packets the peer sends, across sessions and reconnects, until
   * close(). One reader at a time.
   */
  packets(): AsyncIterableIterator<Buffer> {
    return this.userspace('packets()').packets();
  }

  /**
   * Userspace mode only: seals whole IPv4/IPv6 packets to the peer in one write. 'sent': written;
   * 'queued': written, but the socket is full: wait for 'drain' before sending more; 'dropped': no
   * session is up (or none fits a frame), the packets are gone, as a TUN would drop them.
   */
  send(packets: Buffer | Buffer[]): SendResult {
    return this.userspace('send()').send(Array.isArray(packets) ? packets : [packets]);
  }

  private userspace(what: string): UserspaceCarrier {
    if (!(this.carrier instanceof UserspaceCarrier)) throw new TtunError(`${what} needs tun: false`, 'EMODE');
    return this.carrier;
  }

  /**
   * Hands an authenticated connection to the packet carrier. Throws (and destroys the socket) if
   * the carrier cannot take it, e.g. the addon cannot dup the fd (EMFILE) or start its thread: the caller
   * rejects that one connection and goes on.
   */
  protected startSession(socket: Socket, role: Role, sessionKey: Buffer, leftover: Buffer): DataSession {
    let session: DataSession;
    try {
      session = new DataSession(socket, this.carrier, { cipher: this.cipher, sessionKey, role, leftover });
    } catch (err) {
      socket.on('error', () => {});
      socket.destroy();
      throw err;
    }
    this.sessions += 1;
    return session;
  }

  /**
   * The start-up both roles share: the metrics listener, the TUN's routes and --up, then `open`
   * (the server's listener). If a step fails, what the earlier ones made is undone (--down if --up
   * ran, the TUN removed, metrics closed) and the error thrown.
   */
  protected async startUp(open?: () => Promise<void>): Promise<void> {
    try {
      await this.startMetrics();
      await this.setUpTun();
      await open?.();
    } catch (err) {
      await this.closeCarrier();
      await this.stopMetrics();
      throw err;
    }
  }

  /**
   * Once the TUN exists: its routes, then the --up command. If either fails the TUN is removed
   * and the error thrown (start-up fails). Userspace mode: nothing to do.
   */
  private async setUpTun(): Promise<void> {
    const tun = this.tun;
    if (tun === null) return;
    try {
      await addRoutes(this.setup.routes, tun.name);
      if (this.setup.up !== undefined) await runHook('up', this.setup.up, hookEnvironment(tun, this.role));
    } catch (err) {
      await this.closeCarrier();
      throw err;
    }
    this.tunSetUp = true;
  }

  /**
   * Runs --down (if the TUN was set up) and closes the carrier: removes the TUN, which takes its routes with it. Once
   * only: later calls wait for the first. A failing --down is reported ('hook-failed', 'down',
   * message) and the TUN removed all the same.
   */
  protected closeCarrier(): Promise<void> {
    this.carrierClosed ??= (async () => {
      clearInterval(this.dropWatch);
      const tun = this.tun;
      if (tun !== null && this.tunSetUp && this.setup.down !== undefined) {
        try {
          await runHook('down', this.setup.down, hookEnvironment(tun, this.role));
        } catch (err) {
          this.notify('hook-failed', 'down', (err as Error).message);
        }
      }
      this.carrier.close();
    })();
    return this.carrierClosed;
  }
}

export function describePeer(socket: Socket): string {
  const { remoteAddress: host, remotePort: port } = socket;
  if (host === undefined) return 'unknown peer';
  const plain = host.startsWith('::ffff:') ? host.slice(7) : host;
  return formatHostPort({ host: plain, port: port ?? 0 });
}
