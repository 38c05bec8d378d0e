/**
 * The endpoint's packet carrier: where its packets come from and go to once a session is up.
 * - TunCarrier: a TUN device. The connection is handed to the addon's threads, or, for a socket
 *   Node holds no fd for (Windows) or with `dataPath: 'event-loop'`, Node keeps the socket and
 *   batches cross the event loop (chooseSocketOwner).
 * - UserspaceCarrier (`tun: false`): no device, no root; JavaScript reads the packets the peer
 *   sends (packets(), an async iterable) and gives packets to send (send()).
 * One carrier lives as long as its endpoint; each session attaches to it and detaches again.
 */
import type { Socket } from 'node:net';
import type { Core, NativeStats, NativeTunDevice, NativeTunSession } from '../core/native.js';
import { type Direction, FIRST_DATA_COUNTER, MAX_PLAINTEXT_LEN, receiveDirection, sendDirection } from '../core/protocol.js';
import { socketFd, stopReading } from '../network/socket-options.js';
import type { CipherName, DataPath, Role } from '../options/values.js';
import { TtunError } from '../shared/errors.js';
import { PACKET_QUEUE_HIGH, PACKET_QUEUE_LOW } from '../shared/tunables.js';
import type { TunInfo } from './native-tun.js';
import { PacketQueue } from './packet-queue.js';
import type { SessionEnd } from './session-end.js';

export interface SessionParams {
  cipher: CipherName;
  sessionKey: Buffer;
  role: Role;
  /** Bytes the handshake read past its end: the start of the peer's frames. */
  leftover: Buffer;
}

/** One session's hold on the carrier. */
export interface Attachment {
  /** Stops carrying packets for this session (the socket is closed by its owner). */
  detach(): void;
}

export interface PacketCarrier {
  readonly tun: TunInfo | null;
  /** Starts carrying packets over an authenticated connection; `end` is called once if the carrier ends it. */
  attach(socket: Socket, params: SessionParams, end: (end: SessionEnd) => void): Attachment;
  stats(): NativeStats;
  close(): void;
}

/**
 * Node keeps reading the socket: the handshake's leftover first, then every chunk, each handed to
 * `receive`, which throws on a bad frame. Returns the function that stops it.
 */
function readFrames(socket: Socket, leftover: Buffer, receive: (chunk: Buffer) => void, end: (end: SessionEnd) => void): () => void {
  const onData = (chunk: Buffer) => {
    try {
      receive(chunk);
    } catch (err) {
      end({ kind: 'bad-frame', detail: (err as Error).message });
    }
  };
  socket.on('data', onData);
  socket.on('end', () => end({ kind: 'peer-closed', detail: '' }));
  if (leftover.length > 0) onData(leftover);
  socket.resume();
  return () => socket.off('data', onData);
}

/**
 * Who reads and writes a session's connection (the `dataPath` option). 'auto': the addon's threads
 * wherever the socket has an fd they can take over (not on Windows), else the JS event loop. 'event-loop': the event loop
 * always (slower; it is the path Windows takes, and choosing it elsewhere lets it be tested and
 * measured there).
 */
/** Who reads and writes one connection: the addon's threads (which take `fd`) or Node. */
export type SocketOwner = { kind: 'native'; fd: number; leftover: Buffer } | { kind: 'event-loop' };

/**
 * Picks the socket's owner by what the socket offers. Handing it to the addon stops Node reading
 * the socket; what Node had read and not delivered is appended to the handshake's leftover.
 */
export function chooseSocketOwner(socket: Socket, leftover: Buffer, dataPath: DataPath): SocketOwner {
  if (dataPath === 'event-loop') return { kind: 'event-loop' };
  const fd = socketFd(socket);
  const unread = fd === undefined ? undefined : stopReading(socket);
  if (fd === undefined || unread === undefined) return { kind: 'event-loop' };
  return { kind: 'native', fd, leftover: Buffer.concat([leftover, unread]) };
}

export class TunCarrier implements PacketCarrier {
  constructor(
    private readonly device: NativeTunDevice,
    readonly tun: TunInfo,
    private readonly dataPath: DataPath = 'auto',
  ) {}

  attach(socket: Socket, params: SessionParams, end: (end: SessionEnd) => void): Attachment {
    const direction = sendDirection(params.role);
    const owner = chooseSocketOwner(socket, params.leftover, this.dataPath);
    if (owner.kind === 'native') {
      return this.device.attachSocket(params.cipher, params.sessionKey, direction, owner.fd, owner.leftover, (kind, detail) =>
        end({ kind, detail }),
      );
    }
    return this.attachThroughEventLoop(socket, params, direction, end);
  }

  /** Node reads and writes the socket, batches cross the event loop. */
  private attachThroughEventLoop(socket: Socket, params: SessionParams, direction: Direction, end: (end: SessionEnd) => void): Attachment {
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
    const stopFrames = readFrames(socket, params.leftover, (chunk) => session?.receive(chunk), end);
    return {
      detach: () => {
        stopFrames();
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

export class UserspaceCarrier implements PacketCarrier {
  readonly tun = null;
  private current: { socket: Socket; seal: (packets: Buffer[]) => Buffer } | undefined;
  /** The peer's packets, across sessions, for packets(); a slow reader pauses the live session's socket. */
  private readonly received = new PacketQueue({
    high: PACKET_QUEUE_HIGH,
    low: PACKET_QUEUE_LOW,
    pause: () => this.current?.socket.pause(),
    resume: () => this.current?.socket.resume(),
  });
  private readonly counters: NativeStats = {
    txPackets: 0,
    txBytes: 0,
    // Userspace mode has no TUN offload: every packet is one packet.
    txSuperFrames: 0,
    rxPackets: 0,
    rxBytes: 0,
    txDroppedNoSession: 0,
    txDroppedTooBig: 0,
    txDroppedUnreadable: 0,
    txDroppedQueueFull: 0,
    rxDroppedNotIp: 0,
    rxDroppedTunWrite: 0,
  };

  /** Whether send() said 'queued' and the socket has not drained since. */
  private waitingForDrain = false;

  /** `drained`: called when the socket has room again after send() said 'queued'. */
  constructor(
    private readonly core: Core,
    private readonly drained: () => void = () => {},
  ) {}

  attach(socket: Socket, params: SessionParams, end: (end: SessionEnd) => void): Attachment {
    const direction = sendDirection(params.role);
    const sealer = new this.core.FrameSealer(params.cipher, params.sessionKey, direction, FIRST_DATA_COUNTER);
    const receiver = new this.core.FrameReceiver(params.cipher, params.sessionKey, receiveDirection(params.role), FIRST_DATA_COUNTER);
    const session = { socket, seal: (packets: Buffer[]) => sealer.seal(packets) };
    this.current = session;
    const stopFrames = readFrames(
      socket,
      params.leftover,
      (chunk) => {
        for (const packet of receiver.receive(chunk)) this.deliver(packet);
      },
      end,
    );
    // readFrames resumed the socket; a queue still full from the last session (or filled by the
    // leftover) paused its producer already, so this socket starts paused too.
    if (this.received.paused) socket.pause();
    return {
      detach: () => {
        stopFrames();
        if (this.current === session) this.current = undefined;
      },
    };
  }

  private deliver(packet: Buffer): void {
    if (!this.core.isIpPacket(packet)) {
      this.counters.rxDroppedNotIp += 1;
      return;
    }
    this.counters.rxPackets += 1;
    this.counters.rxBytes += packet.length;
    this.received.push(packet);
  }

  /**
   * Seals IP packets to the peer with one socket write: 'sent'; 'queued' when the socket is full
   * (`drained` is called once it has room); 'dropped' when no session is up. Packets larger than a
   * frame carries (65519 bytes) are dropped and counted, as the native path does with what it
   * reads from a TUN.
   */
  send(packets: Buffer[]): 'sent' | 'queued' | 'dropped' {
    for (const packet of packets) {
      if (!this.core.isIpPacket(packet)) throw new TtunError('send() takes whole IPv4 or IPv6 packets only', 'ENOTIP');
    }
    const session = this.current;
    if (!session) {
      this.counters.txDroppedNoSession += packets.length;
      return 'dropped';
    }
    const fitting = packets.filter((p) => p.length <= MAX_PLAINTEXT_LEN);
    this.counters.txDroppedTooBig += packets.length - fitting.length;
    if (fitting.length === 0) return 'dropped';
    this.counters.txPackets += fitting.length;
    this.counters.txBytes += fitting.reduce((n, p) => n + p.length, 0);
    if (session.socket.write(session.seal(fitting))) return 'sent';
    if (!this.waitingForDrain) {
      this.waitingForDrain = true;
      const socket = session.socket;
      const done = () => {
        socket.off('drain', drain);
        socket.off('close', done);
        this.waitingForDrain = false;
      };
      const drain = () => {
        done();
        this.drained();
      };
      socket.on('drain', drain);
      socket.on('close', done);
    }
    return 'queued';
  }

  /**
   * The peer's packets across sessions until close(). One reader at a time; the next one continues
   * where the last stopped (meanwhile packets wait in the queue, and a full queue keeps the peer paused).
   */
  packets(): AsyncIterableIterator<Buffer> {
    return this.received.reader();
  }

  stats(): NativeStats {
    return { ...this.counters };
  }

  close(): void {
    this.current = undefined;
    this.received.close();
  }
}
