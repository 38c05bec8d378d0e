/**
 * Where an endpoint's packets come from and go to once a session is up:
 * - TunPath: a TUN device; the connection is handed to the native data path, or, for a socket
 *   Node holds no fd for (Windows) or with `dataPath: 'event-loop'`, Node keeps the socket and
 *   batches cross the event loop (chooseCarrier).
 * - UserspacePath (`tun: false`): no device, no root; JavaScript reads the packets the peer sends
 *   (an async iterable) and gives packets to send.
 */
import type { Socket } from 'node:net';
import type { CipherName, Role } from './config.js';
import { TtunError } from './errors.js';
import type { Core, NativeStats, NativeTunDevice, NativeTunSession } from './native.js';
import { type Direction, MAX_PLAINTEXT_LEN, receiveDirection, sendDirection } from './protocol.js';
import { socketFd, stopReading } from './socket-options.js';
import type { TunInfo } from './tun.js';
import { PACKET_QUEUE_HIGH, PACKET_QUEUE_LOW } from './tunables.js';

export interface SessionParams {
  cipher: CipherName;
  sessionKey: Buffer;
  role: Role;
  /** Bytes the handshake read past its end: the start of the peer's frames. */
  leftover: Buffer;
}

export interface Link {
  /** Stops carrying packets for this session (the socket is closed by its owner). */
  detach(): void;
}

export interface PacketPath {
  readonly tun: TunInfo | null;
  /** Starts carrying packets over an authenticated connection; `end` is called once if the path ends it. */
  attach(socket: Socket, params: SessionParams, end: (reason: string) => void): Link;
  stats(): NativeStats;
  close(): void;
}

/**
 * Node keeps reading the socket: the handshake's leftover first, then every chunk, each handed to
 * `receive`, which throws on a bad frame. Returns the function that stops it.
 */
function readFrames(socket: Socket, leftover: Buffer, receive: (chunk: Buffer) => void, end: (reason: string) => void): () => void {
  const onData = (chunk: Buffer) => {
    try {
      receive(chunk);
    } catch (err) {
      end(`bad frame from peer: ${(err as Error).message}`);
    }
  };
  socket.on('data', onData);
  socket.on('end', () => end('closed by peer'));
  if (leftover.length > 0) onData(leftover);
  socket.resume();
  return () => socket.off('data', onData);
}

/**
 * Who carries a session's connection. 'auto': the addon's threads wherever the socket has an fd
 * they can take over (not on Windows), else the JS event loop. 'event-loop': the event loop
 * always (slower; it is the path Windows takes, and choosing it elsewhere lets it be tested and
 * measured there).
 */
export const DATA_PATHS = ['auto', 'event-loop'] as const;
export type DataPath = (typeof DATA_PATHS)[number];

export function parseDataPath(value: unknown): DataPath {
  if (value === undefined) return 'auto';
  if (!DATA_PATHS.includes(value as DataPath)) {
    throw new TtunError(`bad dataPath ${JSON.stringify(String(value)).slice(0, 40)}: use ${DATA_PATHS.join(' or ')}`, 'EBADOPTION');
  }
  return value as DataPath;
}

/** How one connection is carried: by the addon's threads (which take `fd`) or through Node. */
export type Carrier = { kind: 'native'; fd: number; leftover: Buffer } | { kind: 'event-loop' };

/**
 * Picks the carrier by what the socket offers. Taking the native one stops Node reading the
 * socket; what Node had read and not delivered is appended to the handshake's leftover.
 */
export function chooseCarrier(socket: Socket, leftover: Buffer, dataPath: DataPath): Carrier {
  if (dataPath === 'event-loop') return { kind: 'event-loop' };
  const fd = socketFd(socket);
  const unread = fd === undefined ? undefined : stopReading(socket);
  if (fd === undefined || unread === undefined) return { kind: 'event-loop' };
  return { kind: 'native', fd, leftover: Buffer.concat([leftover, unread]) };
}

export class TunPath implements PacketPath {
  constructor(
    private readonly device: NativeTunDevice,
    readonly tun: TunInfo,
    private readonly dataPath: DataPath = 'auto',
  ) {}

  attach(socket: Socket, params: SessionParams, end: (reason: string) => void): Link {
    const direction = sendDirection(params.role);
    const carrier = chooseCarrier(socket, params.leftover, this.dataPath);
    if (carrier.kind === 'native') {
      return this.device.attachSocket(params.cipher, params.sessionKey, direction, carrier.fd, carrier.leftover, end);
    }
    return this.attachThroughEventLoop(socket, params, direction, end);
  }

  /** Node reads and writes the socket, batches cross the event loop. */
  private attachThroughEventLoop(socket: Socket, params: SessionParams, direction: Direction, end: (reason: string) => void): Link {
    let waitingForDrain = false;
    let session: NativeTunSession | undefined;
    const send = (wire: Buffer) => {
      if (!socket.write(wire) && !waitingForDrain) {
        waitingForDrain = true;
        this.device.pause();
        socket.once('drain', () => {
          waitingForDrain = false;
          if (session) this.device.resume();
        });
      }
    };
    session = this.device.attachCallback(params.cipher, params.sessionKey, direction, send);
    const stopReading = readFrames(socket, params.leftover, (chunk) => session?.receive(chunk), end);
    return {
      detach: () => {
        stopReading();
        session?.detach();
        session = undefined;
        if (waitingForDrain) this.device.resume();
      },
    };
  }

  stats(): NativeStats {
    return this.device.stats();
  }

  close(): void {
    this.device.close();
  }
}

export class UserspacePath implements PacketPath {
  readonly tun = null;
  private current: { socket: Socket; seal: (packets: Buffer[]) => Buffer } | undefined;
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private reading = false;
  private readonly counters: NativeStats = {
    txPackets: 0,
    txBytes: 0,
    rxPackets: 0,
    rxBytes: 0,
    txDroppedNoSession: 0,
    txDroppedTooBig: 0,
    txDroppedUnreadable: 0,
    rxDroppedNotIp: 0,
    rxDroppedTunWrite: 0,
  };

  constructor(private readonly core: Core) {}

  attach(socket: Socket, params: SessionParams, end: (reason: string) => void): Link {
    const direction = sendDirection(params.role);
    const sealer = new this.core.FrameSealer(params.cipher, params.sessionKey, direction, 1);
    const receiver = new this.core.FrameReceiver(params.cipher, params.sessionKey, receiveDirection(params.role), 1);
    const link = { socket, seal: (packets: Buffer[]) => sealer.seal(packets) };
    this.current = link;
    const stopReading = readFrames(
      socket,
      params.leftover,
      (chunk) => {
        for (const packet of receiver.receive(chunk)) this.deliver(packet, socket);
      },
      end,
    );
    return {
      detach: () => {
        stopReading();
        if (this.current === link) this.current = undefined;
      },
    };
  }

  private deliver(packet: Buffer, socket: Socket): void {
    if (!this.core.isIpPacket(packet)) {
      this.counters.rxDroppedNotIp += 1;
      return;
    }
    this.counters.rxPackets += 1;
    this.counters.rxBytes += packet.length;
    this.queue.push(packet);
    if (this.queue.length > PACKET_QUEUE_HIGH) socket.pause();
    this.wake?.();
  }

  /**
   * Seals IP packets to the peer with one socket write. False: no session (dropped) or the socket
   * is full. Packets larger than a frame carries (65519 bytes) are dropped and counted, as the
   * native path does with what it reads from a TUN.
   */
  send(packets: Buffer[]): boolean {
    for (const packet of packets) {
      if (!this.core.isIpPacket(packet)) throw new TtunError('send() takes whole IPv4 or IPv6 packets only', 'ENOTIP');
    }
    const link = this.current;
    if (!link) {
      this.counters.txDroppedNoSession += packets.length;
      return false;
    }
    const fitting = packets.filter((p) => p.length <= MAX_PLAINTEXT_LEN);
    this.counters.txDroppedTooBig += packets.length - fitting.length;
    if (fitting.length === 0) return true;
    this.counters.txPackets += fitting.length;
    this.counters.txBytes += fitting.reduce((n, p) => n + p.length, 0);
    return link.socket.write(link.seal(fitting));
  }

  packets(): AsyncIterableIterator<Buffer> {
    if (this.reading) throw new Error('packets() already has a reader');
    this.reading = true;
    const iterator: AsyncIterableIterator<Buffer> = {
      next: async () => {
        while (this.queue.length === 0) {
          if (this.closed) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
        }
        if (this.queue.length === PACKET_QUEUE_LOW) this.current?.socket.resume();
        return { done: false, value: this.queue.shift()! };
      },
      return: async () => {
        this.reading = false;
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  stats(): NativeStats {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
    this.current = undefined;
    this.wake?.();
  }
}
