/**
 * Errors a user can act on. The CLI prints `ttun: <message>` for these and exits non-zero
 * without a stack trace; anything else is a bug and keeps its stack.
 */
export class TtunError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'TtunError';
  }
}

/** Why a handshake did not complete. The server logs it and goes on serving. */
export type RejectReason = 'timeout' | 'auth' | 'bad-frame' | 'closed' | 'busy';

export class HandshakeError extends Error {
  constructor(readonly reason: RejectReason, message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}
