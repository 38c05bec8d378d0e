/**
 * The v1 handshake, both roles, in the exact order of PROTOCOL.md:
 *   client → Nc (16) ; server → Ns (16) ; client → frame(dir 0, ctr 0, MAGIC) ; server → frame(dir 1, ctr 0, MAGIC)
 * Each side gives the whole exchange one deadline. Failures carry a reason the server can log:
 * timeout, auth (wrong PSK or cipher: indistinguishable by design), bad-frame, closed.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { CipherName } from './config.js';
import { HandshakeError } from './errors.js';
import { Direction, HANDSHAKE_NONCE_LEN, MAGIC, MAGIC_FRAME_BODY_LEN, type ProtocolCore } from './protocol.js';
import { SocketClosedError, SocketReader } from './socket-reader.js';

export interface HandshakeParams {
  core: ProtocolCore;
  cipher: CipherName;
  /** K, derived once from the PSK. */
  pskKey: Buffer;
  timeoutMs: number;
}

export interface HandshakeResult {
  sessionKey: Buffer;
  /** Bytes the peer sent after its handshake: the start of its data frames. */
  leftover: Buffer;
}

type Steps = (reader: SocketReader) => Promise<Buffer>;

export function clientHandshake(socket: Socket, params: HandshakeParams): Promise<HandshakeResult> {
  return runWithDeadline(socket, params.timeoutMs, async (reader) => {
    const clientNonce = randomBytes(HANDSHAKE_NONCE_LEN);
    socket.write(clientNonce);
    const serverNonce = await reader.read(HANDSHAKE_NONCE_LEN);
    const sessionKey = params.core.sessionKey(params.pskKey, clientNonce, serverNonce);
    socket.write(params.core.sealFrame(params.cipher, sessionKey, Direction.ClientToServer, 0, MAGIC));
    await expectMagic(reader, params, sessionKey, Direction.ServerToClient);
    return sessionKey;
  });
}

export function serverHandshake(socket: Socket, params: HandshakeParams): Promise<HandshakeResult> {
  return runWithDeadline(socket, params.timeoutMs, async (reader) => {
    const clientNonce = await reader.read(HANDSHAKE_NONCE_LEN);
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

async function runWithDeadline(socket: Socket, timeoutMs: number, steps: Steps): Promise<HandshakeResult> {
  const reader = new SocketReader(socket);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HandshakeError('timeout', `handshake timed out after ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    const work = steps(reader);
    // If the deadline wins, the abandoned steps may still fail later; that is already handled.
    work.catch(() => {});
    const sessionKey = await Promise.race([work, deadline]);
    return { sessionKey, leftover: reader.detach() };
  } catch (err) {
    reader.detach();
    if (err instanceof SocketClosedError) throw new HandshakeError('closed', `handshake: ${err.message}`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
