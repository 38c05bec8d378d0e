/**
 * One authenticated connection carrying packets, whichever path carries them (paths.ts). The
 * session owns the socket's end: whoever ends it (the peer, an error, a bad frame, the endpoint
 * replacing or closing it), the path stops using the connection and the socket is destroyed.
 */
import type { Socket } from 'node:net';
import type { Link, PacketPath, SessionParams } from './paths.js';

export class DataSession {
  readonly startedAt = Date.now();
  private ended = false;
  private link: Link | undefined;
  private resolveEnded!: (reason: string) => void;
  /** Resolves with the reason once the session is over, whichever side ended it. */
  readonly ended$: Promise<string> = new Promise((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: Socket,
    path: PacketPath,
    params: SessionParams,
  ) {
    // Attach first: if the path cannot take the connection (no fd or thread left), this throws
    // with nothing hooked to the socket, and the caller rejects just this connection.
    const link = path.attach(socket, params, (reason) => this.end(reason));
    this.link = link;
    // The path may already have ended it (a bad frame in the handshake's leftover).
    if (this.ended) link.detach();
    socket.on('error', (err) => this.end(`connection error: ${err.message}`));
    socket.on('close', () => this.end('connection closed'));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Ends the session: the path stops using the connection and the socket is closed. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.link?.detach();
    this.socket.destroy();
    this.resolveEnded(reason);
  }
}
