/**
 * Exact-length reads from a socket, for the handshake. It buffers every 'data' chunk from the
 * moment it is attached until detach(), which hands back what the handshake did not consume
 * (a peer may send its first data frames right behind the handshake).
 */
import type { Socket } from 'node:net';

export class SocketClosedError extends Error {
  constructor(override readonly cause?: Error) {
    super(cause ? `connection failed: ${cause.message}` : 'connection closed by peer');
  }
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { length: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.serveWaiter();
  };
  private readonly onEnd = () => this.fail(new SocketClosedError());
  private readonly onError = (err: Error) => this.fail(new SocketClosedError(err));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Resolves with exactly `length` bytes, or rejects if the socket ends first. */
  read(length: number): Promise<Buffer> {
    if (this.waiter) throw new Error('SocketReader supports one read at a time');
    return new Promise((resolve, reject) => {
      this.waiter = { length, resolve, reject };
      this.serveWaiter();
    });
  }

  /**
   * Stops listening and returns the bytes received but not read. The socket is left paused, so
   * nothing that arrives later is emitted to nobody: the next owner collects it with socket.read().
   */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  private fail(error: Error) {
    this.failure ??= error;
    this.serveWaiter();
  }

  private serveWaiter() {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.buffered >= waiter.length) {
      this.waiter = undefined;
      waiter.resolve(this.take(waiter.length));
    } else if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    }
  }

  private take(length: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, length);
    const rest = all.subarray(length);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}
