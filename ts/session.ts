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
  private readonly link: Link;
  private resolveEnded!: (reason: string) => void;
  /** Resolves with the reason once the session is over, whichever side ended it. */
  readonly ended$: Promise<string> = new Promise((resolve) => (this.resolveEnded = resolve));

  constructor(
    private readonly socket: Socket,
    path: PacketPath,
    params: SessionParams,
  ) {
    socket.on('error', (err) => this.end(`connection error: ${err.message}`));
    socket.on('close', () => this.end('connection closed'));
    this.link = path.attach(socket, params, (reason) => this.end(reason));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Ends the session: the path stops using the connection and the socket is closed. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.link.detach();
    this.socket.destroy();
    this.resolveEnded(reason);
  }
}
