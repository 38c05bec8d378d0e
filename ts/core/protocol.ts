/**
 * The protocol core as TypeScript sees it: key schedule, single-frame seal/open, the stream
 * receiver and the IP-packet check, all from the Rust crate ttun-proto, through the napi addon
 * (or, where no addon exists, its WebAssembly build). Their types are the addon's, generated
 * from the Rust (ts/native-binding.d.ts).
 */
import type { CipherName, Role } from '../options/values.js';
import { MAGIC, TAG_LEN } from '../shared/wire.js';
import type * as binding from './native-binding.js';

// The wire format's sizes come from the Rust core (shared/wire.ts is generated from it).
export { FIRST_DATA_COUNTER, HANDSHAKE_NONCE_LEN, MAGIC, MAX_PLAINTEXT_LEN, TAG_LEN } from '../shared/wire.js';
/** The magic frame body: 8 bytes of ciphertext and the tag. */
export const MAGIC_FRAME_BODY_LEN = MAGIC.length + TAG_LEN;

/** Fails to compile unless config.ts's CIPHERS name exactly the ciphers the Rust core takes. */
export type CipherNamesMatchTheCore = Same<CipherName, binding.CipherName>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const ciphersMatch: CipherNamesMatchTheCore = true;
void ciphersMatch;

/** Frame nonce direction byte: client→server frames use 0, server→client frames use 1. */
export type Direction = binding.Direction;
/**
 * The addon's Direction enum as a value: the WebAssembly core has no such export, and the
 * annotation keeps the numbers equal to the generated enum's.
 */
export const Direction: {
  readonly ClientToServer: binding.Direction.ClientToServer;
  readonly ServerToClient: binding.Direction.ServerToClient;
} = { ClientToServer: 0, ServerToClient: 1 };

/** The direction of the frames `role` sends. */
export function sendDirection(role: Role): Direction {
  return role === 'client' ? Direction.ClientToServer : Direction.ServerToClient;
}

/** The direction of the frames `role` receives. */
export function receiveDirection(role: Role): Direction {
  return sendDirection(role === 'client' ? 'server' : 'client');
}

/** Seals packets into frames of one direction (no TUN involved). */
export interface FrameSealerLike {
  /** One buffer with a frame per packet, in order. */
  seal(packets: Buffer[]): Buffer;
}

/** Cuts frames out of a byte stream in any chunking and opens them in order. */
export interface FrameReceiverLike {
  /** The plaintexts of the frames this chunk completes; throws (code EBADFRAME) on a bad frame. */
  receive(chunk: Buffer): Buffer[];
}

/** What both cores (addon and WebAssembly) provide: the protocol without a TUN. */
export type ProtocolCore = Pick<typeof binding, 'pskKey' | 'sessionKey' | 'sealFrame' | 'openFrame' | 'isIpPacket' | 'wireConstants'> & {
  FrameSealer: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => FrameSealerLike;
  FrameReceiver: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => FrameReceiverLike;
};

/**
 * Calls `each` with every record of a `[u16 BE length][bytes]` run, in order: the format of the
 * addon's attachPackets batches and of the WebAssembly receiver's output. Records are views into
 * `records`, not copies.
 */
export function forEachRecord(records: Buffer, each: (record: Buffer) => void): void {
  for (let at = 0; at + 2 <= records.length; ) {
    const length = records.readUInt16BE(at);
    each(records.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
}
