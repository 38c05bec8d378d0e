/**
 * One authenticated connection carrying packets, whichever carrier carries them (packet-carrier.ts).
 * The session owns the socket's end: whoever ends it (the peer, an error, a bad frame, the endpoint
 * replacing or closing it), the carrier stops using the connection and the socket is destroyed.
 */
import type { Socket } from 'node:net';
import type { Attachment, PacketCarrier, SessionParams } from './packet-carrier.js';
import type { SessionEnd } from './session-end.js';

export type { SessionEnd, SessionEndKind } from './session-end.js';

export class DataSession {
  readonly startedAt = Date.now();
  /** Why it ended; undefined while the session is up. */
  private endedBy: SessionEnd | undefined;
  private attachment: Attachment | undefined;
  private resolveEnded!: (end: SessionEnd) => void;
  /** Resolves with why once the session is over, whichever side ended it. */
  readonly ended: Promise<SessionEnd> = new Promise((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: Socket,
    carrier: PacketCarrier,
    params: SessionParams,
  ) {
    // Attach first: if the carrier cannot take the connection (no fd or thread left), this throws
    // with nothing hooked to the socket, and the caller rejects just this connection.
    const attachment = carrier.attach(socket, params, (end) => this.end(end));
    this.attachment = attachment;
    // The carrier may already have ended it (a bad frame in the handshake's leftover).
    if (this.isEnded) attachment.detach();
    socket.on('error', (err) => this.end({ kind: 'connection-error', detail: err.message }));
    socket.on('close', () => this.end({ kind: 'peer-closed', detail: '' }));
  }

  get isEnded(): boolean {
    return this.endedBy !== undefined;
  }

  /** Ends the session: the carrier stops using the connection and the socket is closed. */
  end(end: SessionEnd): void {
    if (this.endedBy !== undefined) return;
    this.endedBy = end;
    this.attachment?.detach();
    this.socket.destroy();
    this.resolveEnded(end);
  }
}
