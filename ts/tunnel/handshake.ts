/**
 * The v1 handshake, both roles, in the exact order of PROTOCOL.md:
 *   client → Nc (16) ; server → Ns (16) ; client → frame(dir 0, ctr 0, MAGIC) ; server → frame(dir 1, ctr 0, MAGIC)
 * Each side gives the whole exchange one deadline; the server also gives the silent first phase
 * (until the client's nonce) a shorter one. Failures carry a reason the server can log:
 * timeout, auth (wrong PSK or cipher: indistinguishable by design), bad-frame, closed.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Direction, HANDSHAKE_NONCE_LEN, MAGIC, MAGIC_FRAME_BODY_LEN, type ProtocolCore } from '../core/protocol.js';
import { SocketClosedError, SocketReader } from '../network/socket-reader.js';
import type { CipherName } from '../options/values.js';
import { within } from '../shared/deadline.js';
import { HandshakeError } from '../shared/errors.js';

export interface HandshakeParams {
  core: ProtocolCore;
  cipher: CipherName;
  /** K, derived once from the PSK. */
  pskKey: Buffer;
  timeoutMs: number;
  /**
   * Server only: how long the connection may stay silent before the client's nonce arrives
   * (capped by timeoutMs). A real client sends its nonce as soon as it is connected, so a
   * connection still silent after this is most likely holding a slot for nothing.
   */
  nonceTimeoutMs?: number;
}

export interface HandshakeResult {
  sessionKey: Buffer;
  /** Bytes the peer sent after its handshake: the start of its data frames. */
  leftover: Buffer;
}

/** Where a handshake is, for a message that says what a failure there can mean. */
interface Phase {
  /** Why the connection closing at this point may have happened. */
  closed: string;
  /** What was still awaited, for a timeout. */
  awaiting: string;
}

type Steps = (reader: SocketReader, enter: (phase: Phase) => void) => Promise<Buffer>;

/*
 * The client cannot see why a server closed, but it knows how far it got. A server closes before
 * sending its nonce only when it is busy (the handshake was evicted), timed out, or is not a ttun
 * server: it has not seen anything keyed yet. Only after our authentication frame can a close mean
 * the server could not open it, i.e. a wrong PSK or cipher.
 */
const CLIENT_AWAITING_NONCE: Phase = {
  closed: 'the server closed the connection before sending its nonce (evicted by a busy server, or timed out; not a key problem)',
  awaiting: "the server's nonce",
};
const CLIENT_AWAITING_MAGIC: Phase = {
  closed: 'the server closed the connection after our authentication frame (wrong PSK or cipher?)',
  awaiting: "the server's authentication frame",
};

/** `initial`: bytes from the server already read off the socket (behind a proxy's reply). */
export function clientHandshake(socket: Socket, params: HandshakeParams, initial?: Buffer): Promise<HandshakeResult> {
  return runWithDeadline(socket, params.timeoutMs, CLIENT_AWAITING_NONCE, initial, async (reader, enter) => {
    const clientNonce = randomBytes(HANDSHAKE_NONCE_LEN);
    socket.write(clientNonce);
    const serverNonce = await reader.read(HANDSHAKE_NONCE_LEN);
    const sessionKey = params.core.sessionKey(params.pskKey, clientNonce, serverNonce);
    socket.write(params.core.sealFrame(params.cipher, sessionKey, Direction.ClientToServer, 0, MAGIC));
    enter(CLIENT_AWAITING_MAGIC);
    await expectMagic(reader, params, sessionKey, Direction.ServerToClient);
    return sessionKey;
  });
}

export function serverHandshake(socket: Socket, params: HandshakeParams): Promise<HandshakeResult> {
  const awaitingNonce = { closed: 'connection closed by peer before its nonce', awaiting: "the client's nonce" };
  const awaitingMagic = {
    closed: 'connection closed by peer before its authentication frame',
    awaiting: "the client's authentication frame",
  };
  return runWithDeadline(socket, params.timeoutMs, awaitingNonce, undefined, async (reader, enter) => {
    const nonceMs = Math.min(params.nonceTimeoutMs ?? params.timeoutMs, params.timeoutMs);
    const clientNonce = await within(
      reader.read(HANDSHAKE_NONCE_LEN),
      nonceMs,
      () => new HandshakeError('timeout', `no client nonce within ${nonceMs / 1000} s`),
    );
    enter(awaitingMagic);
    const serverNonce = randomBytes(HANDSHAKE_NONCE_LEN);
    socket.write(serverNonce);
    const sessionKey = params.core.sessionKey(params.pskKey, clientNonce, serverNonce);
    await expectMagic(reader, params, sessionKey, Direction.ClientToServer);
    socket.write(params.core.sealFrame(params.cipher, sessionKey, Direction.ServerToClient, 0, MAGIC));
    return sessionKey;
  });
}

async function expectMagic(reader: SocketReader, params: HandshakeParams, sessionKey: Buffer, direction: Direction) {
  const length = (await reader.read(2)).readUInt16BE(0);
  // Every v1 peer sends exactly MAGIC sealed: anything else is not a v1 peer, and refusing it
  // here means a stranger cannot make us wait for (or buffer) a 64 KiB body.
  if (length !== MAGIC_FRAME_BODY_LEN) {
    throw new HandshakeError('bad-frame', `bad handshake frame: length ${length}, expected ${MAGIC_FRAME_BODY_LEN}`);
  }
  const body = await reader.read(length);
  const plaintext = params.core.openFrame(params.cipher, sessionKey, direction, 0, body);
  if (plaintext === null || !plaintext.equals(MAGIC)) {
    throw new HandshakeError('auth', 'authentication failed: wrong PSK or cipher');
  }
}

async function runWithDeadline(
  socket: Socket,
  timeoutMs: number,
  first: Phase,
  initial: Buffer | undefined,
  steps: Steps,
): Promise<HandshakeResult> {
  const reader = new SocketReader(socket, initial);
  let phase = first;
  try {
    const work = steps(reader, (next) => (phase = next));
    const sessionKey = await within(
      work,
      timeoutMs,
      () => new HandshakeError('timeout', `handshake timed out after ${timeoutMs / 1000} s waiting for ${phase.awaiting}`),
    );
    return { sessionKey, leftover: reader.detach() };
  } catch (err) {
    reader.detach();
    if (err instanceof SocketClosedError) {
      const how = err.cause ? ` (${err.message})` : '';
      throw new HandshakeError('closed', `${phase.closed}${how}`);
    }
    throw err;
  }
}
