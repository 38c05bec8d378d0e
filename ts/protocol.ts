/**
 * The protocol core as TypeScript sees it: key schedule and single-frame seal/open from the Rust
 * crate ttun-proto, through the napi addon (or, where no addon exists, its WebAssembly build).
 */
import type { CipherName } from './config.js';

export const MAGIC = Buffer.from('TTUN/v1\0', 'latin1');
export const HANDSHAKE_NONCE_LEN = 16;
export const TAG_LEN = 16;
/** The magic frame body: 8 bytes of ciphertext and the tag. */
export const MAGIC_FRAME_BODY_LEN = MAGIC.length + TAG_LEN;
/** The largest plaintext (IP packet) one frame carries: its u16 length covers the tag too. */
export const MAX_PLAINTEXT_LEN = 0xffff - TAG_LEN;

/** Frame nonce direction byte: client→server frames use 0, server→client frames use 1. */
export enum Direction {
  ClientToServer = 0,
  ServerToClient = 1,
}

export interface ProtocolCore {
  /** K = BLAKE2s-256("ttun/psk/v1" || psk) */
  pskKey(psk: Buffer): Buffer;
  /** SK = BLAKE2s-256("ttun/sk/v1" || K || Nc || Ns) */
  sessionKey(pskKey: Buffer, clientNonce: Buffer, serverNonce: Buffer): Buffer;
  /** One whole frame, length prefix included. */
  sealFrame(cipher: CipherName, key: Buffer, direction: Direction, counter: number, plaintext: Buffer): Buffer;
  /** Opens a frame body (ciphertext || tag); returns null when the tag does not verify. */
  openFrame(cipher: CipherName, key: Buffer, direction: Direction, counter: number, body: Buffer): Buffer | null;
}
