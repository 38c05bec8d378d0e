/**
 * One authenticated connection carrying packets.
 *
 * Normally the connection is handed to the native data path after the handshake: Node stops
 * reading the socket, Rust threads read and write its fd (no packet crosses the JS event loop)
 * and report back only when the session ends. Where there is no fd, or with
 * TTUN_DATAPATH=js, Node keeps the socket: each 'data' chunk goes to the native session whole,
 * each sealed batch comes back to JS for one socket.write, and when the socket cannot take more
 * the TUN reader is paused until 'drain' rather than buffering.
 */
import type { Socket } from 'node:net';
import type { CipherName, Role } from './config.js';
import type { NativeTunDevice, NativeTunSession } from './native.js';
import { Direction } from './protocol.js';
import { socketFd, stopReading } from './socket-options.js';

export class DataSession {
  readonly startedAt = Date.now();
  private ended = false;
  private waitingForDrain = false;
  private readonly link: NativeTunSession;
  private resolveEnded!: (reason: string) => void;
  /** Resolves with the reason once the session is over, whichever side ended it. */
  readonly ended$: Promise<string> = new Promise((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: Socket,
    private readonly device: NativeTunDevice,
    params: { cipher: CipherName; sessionKey: Buffer; role: Role; leftover: Buffer },
  ) {
    const sendDirection = params.role === 'client' ? Direction.ClientToServer : Direction.ServerToClient;
    socket.on('error', (err) => this.end(`connection error: ${err.message}`));
    socket.on('close', () => this.end('connection closed'));
    const fd = process.env.TTUN_DATAPATH === 'js' ? undefined : socketFd(socket);
    const unread = fd === undefined ? undefined : stopReading(socket);
    if (fd !== undefined && unread !== undefined) {
      const leftover = Buffer.concat([params.leftover, unread]);
      this.link = device.attachSocket(params.cipher, params.sessionKey, sendDirection, fd, leftover, (reason) => this.end(reason));
    } else {
      this.link = device.attachCallback(params.cipher, params.sessionKey, sendDirection, (wire) => this.send(wire));
      socket.on('data', this.onData);
      socket.on('end', () => this.end('closed by peer'));
      if (params.leftover.length > 0) this.onData(params.leftover);
      socket.resume();
    }
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Ends the session: the native side stops using the connection and the socket is closed. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.link.detach();
    if (this.waitingForDrain) this.device.resume();
    this.socket.destroy();
    this.resolveEnded(reason);
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.ended) return;
    try {
      this.link.receive(chunk);
    } catch (err) {
      this.end(`bad frame from peer: ${(err as Error).message}`);
    }
  };

  private send(wire: Buffer): void {
    if (this.ended) return;
    if (!this.socket.write(wire) && !this.waitingForDrain) {
      this.waitingForDrain = true;
      this.device.pause();
      this.socket.once('drain', () => {
        this.waitingForDrain = false;
        if (!this.ended) this.device.resume();
      });
    }
  }
}
