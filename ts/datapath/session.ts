/**
 * One authenticated connection carrying packets, whichever carrier carries them (packet-carrier.ts).
 * The session owns the socket's end: whoever ends it (the peer, an error, a bad frame, the endpoint
 * replacing or closing it), the carrier stops using the connection and the socket is destroyed.
 */
import type { Socket } from 'node:net';
import type { Attachment, PacketCarrier, SessionParams } from './packet-carrier.js';

export class DataSession {
  readonly startedAt = Date.now();
  /** Why it ended; undefined while the session is up. */
  private endReason: string | undefined;
  private attachment: Attachment | undefined;
  private resolveEnded!: (reason: string) => void;
  /** Resolves with the reason once the session is over, whichever side ended it. */
  readonly ended: Promise<string> = new Promise((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: Socket,
    carrier: PacketCarrier,
    params: SessionParams,
  ) {
    // Attach first: if the carrier cannot take the connection (no fd or thread left), this throws
    // with nothing hooked to the socket, and the caller rejects just this connection.
    const attachment = carrier.attach(socket, params, (reason) => this.end(reason));
    this.attachment = attachment;
    // The carrier may already have ended it (a bad frame in the handshake's leftover).
    if (this.isEnded) attachment.detach();
    socket.on('error', (err) => this.end(`connection error: ${err.message}`));
    socket.on('close', () => this.end('connection closed'));
  }

  get isEnded(): boolean {
    return this.endReason !== undefined;
  }

  /** Ends the session: the carrier stops using the connection and the socket is closed. */
  end(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.attachment?.detach();
    this.socket.destroy();
    this.resolveEnded(reason);
  }
}
