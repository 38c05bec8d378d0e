/**
 * The protocol core compiled to WebAssembly (crates/ttun-wasm → wasm/ttun-core.wasm), for where
 * no native addon exists. It has what a userspace endpoint (tun: false) needs: key derivation and
 * frame seal/open; framing of the stream is done here in TypeScript. It has no TUN device.
 */
import { readFileSync } from 'node:fs';
import type { CipherName } from './config.js';
import type { NativeFrameReceiver, NativeFrameSealer } from './native.js';
import type { Direction, ProtocolCore } from './protocol.js';
import { TAG_LEN } from './protocol.js';

interface WasmExports {
  memory: WebAssembly.Memory;
  ttun_alloc(len: number): number;
  ttun_free(ptr: number, len: number): void;
  ttun_psk_key(psk: number, pskLen: number, out: number): void;
  ttun_session_key(k: number, nc: number, ns: number, out: number): void;
  ttun_seal_frame(kind: number, key: number, dir: number, counter: bigint, pt: number, ptLen: number, out: number): number;
  ttun_open_frame(kind: number, key: number, dir: number, counter: bigint, body: number, bodyLen: number): number;
}

export class BadFrameError extends Error {
  readonly code = 'EBADFRAME';
}

const CIPHER_IDS: Record<CipherName, number> = { 'chacha20-poly1305': 0, 'aes-256-gcm': 1 };
const MAX_BODY = 65535;

export interface WasmCore extends ProtocolCore {
  readonly kind: 'wasm';
  FrameSealer: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => NativeFrameSealer;
  FrameReceiver: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => NativeFrameReceiver;
}

export function wasmPath(): URL {
  // dist/ts/wasm-core.js -> <package root>/wasm/ttun-core.wasm
  return new URL('../../wasm/ttun-core.wasm', import.meta.url);
}

export function loadWasmCore(path: URL = wasmPath()): WasmCore {
  const module = new WebAssembly.Module(readFileSync(path));
  const w = new WebAssembly.Instance(module, {}).exports as unknown as WasmExports;

  /** Runs `body` with the given buffers copied into module memory; frees them afterwards. */
  function withBuffers<T>(inputs: Array<Uint8Array | number>, body: (ptrs: number[], memory: () => Uint8Array) => T): T {
    const sizes = inputs.map((input) => (typeof input === 'number' ? input : input.length));
    const ptrs = sizes.map((size) => w.ttun_alloc(size));
    try {
      // Memory may grow on any call, so each view is taken fresh.
      const memory = () => new Uint8Array(w.memory.buffer);
      inputs.forEach((input, i) => {
        if (typeof input !== 'number') memory().set(input, ptrs[i]);
      });
      return body(ptrs, memory);
    } finally {
      for (const [i, ptr] of ptrs.entries()) w.ttun_free(ptr, sizes[i]!);
    }
  }

  const pskKey = (psk: Buffer) =>
    withBuffers([psk, 32], ([p, out], mem) => {
      w.ttun_psk_key(p!, psk.length, out!);
      return Buffer.from(mem().subarray(out!, out! + 32));
    });

  const sessionKey = (k: Buffer, nc: Buffer, ns: Buffer) =>
    withBuffers([k, nc, ns, 32], ([pk, pnc, pns, out], mem) => {
      w.ttun_session_key(pk!, pnc!, pns!, out!);
      return Buffer.from(mem().subarray(out!, out! + 32));
    });

  const sealFrame = (cipher: CipherName, key: Buffer, direction: Direction, counter: number, plaintext: Buffer) =>
    withBuffers([key, plaintext, plaintext.length + 2 + TAG_LEN], ([pk, pt, out], mem) => {
      const n = w.ttun_seal_frame(CIPHER_IDS[cipher], pk!, direction, BigInt(counter), pt!, plaintext.length, out!);
      if (n < 0) throw new Error(`cannot seal a ${plaintext.length}-byte frame`);
      return Buffer.from(mem().subarray(out!, out! + n));
    });

  const openFrame = (cipher: CipherName, key: Buffer, direction: Direction, counter: number, body: Buffer) => {
    if (body.length < TAG_LEN) return null;
    return withBuffers([key, body], ([pk, pb], mem) => {
      const n = w.ttun_open_frame(CIPHER_IDS[cipher], pk!, direction, BigInt(counter), pb!, body.length);
      return n < 0 ? null : Buffer.from(mem().subarray(pb!, pb! + n));
    });
  };

  class FrameSealer implements NativeFrameSealer {
    private counter: number;
    constructor(
      private readonly cipher: CipherName,
      private readonly key: Buffer,
      private readonly direction: Direction,
      firstCounter: number,
    ) {
      this.counter = firstCounter;
    }
    seal(packets: Buffer[]): Buffer {
      return Buffer.concat(packets.map((p) => sealFrame(this.cipher, this.key, this.direction, this.counter++, p)));
    }
  }

  /** The stream decoder of ttun-proto, in TypeScript: frames may straddle chunks. */
  class FrameReceiver implements NativeFrameReceiver {
    private pending = Buffer.alloc(0);
    private counter: number;
    private failed: Error | undefined;
    constructor(
      private readonly cipher: CipherName,
      private readonly key: Buffer,
      private readonly direction: Direction,
      firstCounter: number,
    ) {
      this.counter = firstCounter;
    }
    receive(chunk: Buffer): Buffer[] {
      if (this.failed) throw this.failed;
      let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      const packets: Buffer[] = [];
      while (data.length >= 2) {
        const length = data.readUInt16BE(0);
        if (length < TAG_LEN) throw this.fail(new BadFrameError(`bad frame: length ${length} is below the 16-byte tag`));
        if (data.length < 2 + length) break;
        const plaintext = openFrame(this.cipher, this.key, this.direction, this.counter, data.subarray(2, 2 + length));
        if (plaintext === null) throw this.fail(new BadFrameError('frame failed authentication (wrong PSK or cipher, or tampered)'));
        this.counter += 1;
        packets.push(plaintext);
        data = data.subarray(2 + length);
      }
      this.pending = Buffer.from(data);
      if (this.pending.length > 2 + MAX_BODY) throw this.fail(new BadFrameError('bad frame: longer than a frame can be'));
      return packets;
    }
    /** A bad frame ends the stream for good: every later call throws the same error. */
    private fail(error: Error): Error {
      this.failed = error;
      return error;
    }
  }

  return { kind: 'wasm', pskKey, sessionKey, sealFrame, openFrame, FrameSealer, FrameReceiver };
}
