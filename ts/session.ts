/**
 * One authenticated connection carrying packets: socket chunks go to the native session whole,
 * sealed batches from the TUN reader go to the socket with one write each. When the socket
 * cannot take more, the TUN reader is paused until 'drain' rather than buffering in memory.
 */
import type { Socket } from 'node:net';
import type { CipherName, Role } from './config.js';
import type { NativeTunDevice, NativeTunSession } from './native.js';
import { Direction } from './protocol.js';

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
    this.link = device.attach(params.cipher, params.sessionKey, sendDirection, (wire) => this.send(wire));
    socket.on('data', this.onData);
    socket.on('end', () => this.end('closed by peer'));
    socket.on('close', () => this.end('connection closed'));
    socket.on('error', (err) => this.end(`connection error: ${err.message}`));
    if (params.leftover.length > 0) this.onData(params.leftover);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Ends the session: the TUN reader stops sealing for it and the socket is closed. */
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
