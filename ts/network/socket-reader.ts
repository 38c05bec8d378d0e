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

export class DelimiterMissingError extends Error {
  constructor(readonly maxLength: number) {
    super(`no end of header within ${maxLength} bytes`);
  }
}

export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { length: number; delimiter?: Buffer; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.serveWaiter();
  };
  private readonly onEnd = () => this.fail(new SocketClosedError());
  private readonly onError = (err: Error) => this.fail(new SocketClosedError(err));

  /**
   * `initial`: bytes already taken off this socket by an earlier reader (a proxy's reply may carry
   * the peer's first bytes), read before anything that arrives now.
   */
  constructor(
    private readonly socket: Socket,
    initial?: Buffer,
  ) {
    if (initial !== undefined && initial.length > 0) {
      this.chunks.push(initial);
      this.buffered = initial.length;
    }
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    // An earlier reader's detach() left the socket paused, and a new 'data' listener does not undo an explicit pause.
    socket.resume();
    // An end the earlier reader saw (a proxy that closed right behind its reply) is not emitted again.
    if (socket.readableEnded || socket.destroyed) this.failure = new SocketClosedError();
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
   * Resolves with every byte up to and including the first `delimiter`, or rejects if the socket
   * ends first or `maxLength` bytes arrive without one (a peer that never ends its header).
   */
  readUntil(delimiter: Buffer, maxLength: number): Promise<Buffer> {
    if (this.waiter) throw new Error('SocketReader supports one read at a time');
    return new Promise((resolve, reject) => {
      this.waiter = { length: maxLength, delimiter, resolve, reject };
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
    if (waiter.delimiter !== undefined) {
      const end = this.delimiterEnd(waiter.delimiter);
      if (end !== -1 && end <= waiter.length) {
        this.waiter = undefined;
        waiter.resolve(this.take(end));
      } else if (this.buffered >= waiter.length) {
        this.waiter = undefined;
        waiter.reject(new DelimiterMissingError(waiter.length));
      } else if (this.failure) {
        this.waiter = undefined;
        waiter.reject(this.failure);
      }
      return;
    }
    if (this.buffered >= waiter.length) {
      this.waiter = undefined;
      waiter.resolve(this.take(waiter.length));
    } else if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    }
  }

  /** Where the first `delimiter` in the buffer ends, or -1. */
  private delimiterEnd(delimiter: Buffer): number {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    const at = this.chunks.length === 0 ? -1 : this.chunks[0]!.indexOf(delimiter);
    return at === -1 ? -1 : at + delimiter.length;
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
