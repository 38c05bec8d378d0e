/**
 * Errors a user can act on. The CLI prints `ttun: <message>` for these and exits non-zero
 * without a stack trace; anything else is a bug and keeps its stack.
 */
export class TtunError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TtunError';
  }
}

/** Why a file could not be read, in a few words for a one-line error, by its errno code (Node's message repeats the path). */
export function unreadableBecause(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return code ?? 'unreadable';
  }
}

/**
 * Why a connection did not become a session. The server logs it and goes on serving. busy: evicted
 * to make room for a newer handshake; attach: authenticated, but the session could not be started
 * (out of file descriptors, a thread that would not start).
 */
export type RejectReason = 'timeout' | 'auth' | 'bad-frame' | 'closed' | 'busy' | 'attach';

export class HandshakeError extends Error {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
    this.name = 'HandshakeError';
  }
}
