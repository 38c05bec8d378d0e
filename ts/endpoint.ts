/**
 * What server and client share: validated options, the derived PSK key, the TUN device and the
 * counters. Each subclass adds its own connection lifecycle.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { type CipherName, HANDSHAKE_TIMEOUT_MS, parseCipher, parseMtu, parsePsk, type Role } from './config.js';
import type { HandshakeParams } from './handshake.js';
import { loadNative, type NativeBinding, type NativeStats, type NativeTunDevice } from './native.js';
import { DataSession } from './session.js';
import { openTun, type TunInfo } from './tun.js';

export interface CommonOptions {
  /** The pre-shared key: the raw bytes of the string (UTF-8), as v1 takes `-k`. */
  psk: string | Uint8Array;
  /** Default chacha20-poly1305. Both ends must use the same one. */
  cipher?: CipherName;
  /** TUN MTU, 1280..65519, default 1280. */
  mtu?: number;
  /** Handshake deadline in ms, default 10000 (v1). */
  handshakeTimeoutMs?: number;
}

/** How often dropped-packet counters are checked and reported. */
export const DROP_REPORT_INTERVAL_MS = 2_000;

export interface EndpointStats extends NativeStats {
  /** Sessions that completed the handshake. */
  sessions: number;
  /** Times the client scheduled a reconnect (always 0 on a server). */
  reconnects: number;
}

export abstract class Endpoint extends EventEmitter {
  readonly cipher: CipherName;
  readonly tun: TunInfo;
  protected readonly native: NativeBinding;
  protected readonly device: NativeTunDevice;
  protected readonly handshake: HandshakeParams;
  protected closed = false;
  protected sessions = 0;
  protected reconnects = 0;
  private readonly dropWatch: NodeJS.Timeout;

  protected constructor(role: Role, options: CommonOptions) {
    super();
    this.cipher = parseCipher(options.cipher);
    const mtu = parseMtu(options.mtu);
    const psk = parsePsk(options.psk);
    this.native = loadNative();
    // Only K is kept; the PSK bytes are dropped here.
    this.handshake = {
      core: this.native,
      cipher: this.cipher,
      pskKey: this.native.pskKey(psk),
      timeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    };
    psk.fill(0);
    const { device, info } = openTun(this.native, role, mtu, (message) => this.emit('fatal', message));
    this.device = device;
    this.tun = info;
    this.dropWatch = this.watchDrops();
  }

  /**
   * Drops happen in the native data path, packet by packet; every few seconds the counters are
   * compared and any increase becomes one 'dropped' event (kind, count), so a peer sending junk
   * is logged without a line per packet.
   */
  private watchDrops(): NodeJS.Timeout {
    let last = this.device.stats();
    const timer = setInterval(() => {
      const now = this.device.stats();
      const notIp = now.rxDroppedNotIp - last.rxDroppedNotIp;
      const refused = now.rxDroppedTunWrite - last.rxDroppedTunWrite;
      if (notIp > 0) this.emit('dropped', 'not-ip', notIp);
      if (refused > 0) this.emit('dropped', 'tun-refused', refused);
      last = now;
    }, DROP_REPORT_INTERVAL_MS);
    timer.unref();
    return timer;
  }

  stats(): EndpointStats {
    return { ...this.device.stats(), sessions: this.sessions, reconnects: this.reconnects };
  }

  protected startSession(socket: Socket, role: Role, sessionKey: Buffer, leftover: Buffer): DataSession {
    this.sessions += 1;
    return new DataSession(socket, this.device, { cipher: this.cipher, sessionKey, role, leftover });
  }

  protected closeDevice(): void {
    clearInterval(this.dropWatch);
    this.device.close();
  }
}

export function describePeer(socket: Socket): string {
  const { remoteAddress: host, remotePort: port } = socket;
  if (host === undefined) return 'unknown peer';
  const plain = host.startsWith('::ffff:') ? host.slice(7) : host;
  return plain.includes(':') ? `[${plain}]:${port}` : `${plain}:${port}`;
}
