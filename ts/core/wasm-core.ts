/**
 * The protocol core compiled to WebAssembly (crates/ttun-wasm → wasm/ttun-core.wasm), for where
 * no native addon exists. It has what a userspace endpoint (tun: false) needs: key derivation,
 * frame seal/open, ttun-proto's stream receiver and the IP-packet check. It has no TUN device.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CIPHERS, type CipherName } from '../options/values.js';
import { PACKAGE_ROOT } from '../shared/package-info.js';
import { type Direction, type FrameReceiverLike, type FrameSealerLike, forEachRecord, type ProtocolCore, TAG_LEN } from './protocol.js';

interface WasmExports {
  memory: WebAssembly.Memory;
  ttun_alloc(len: number): number;
  ttun_free(ptr: number, len: number): void;
  ttun_psk_key(psk: number, pskLen: number, out: number): void;
  ttun_session_key(k: number, nc: number, ns: number, out: number): void;
  ttun_seal_frame(kind: number, key: number, dir: number, counter: bigint, pt: number, ptLen: number, out: number): number;
  ttun_open_frame(kind: number, key: number, dir: number, counter: bigint, body: number, bodyLen: number): number;
  ttun_is_ip_packet(packet: number, len: number): number;
  ttun_receiver_new(kind: number, key: number, dir: number, firstCounter: bigint): number;
  ttun_receiver_free(receiver: number): void;
  ttun_receiver_feed(receiver: number, chunk: number, len: number): number;
  ttun_receiver_output(receiver: number): number;
  ttun_receiver_output_len(receiver: number): number;
  ttun_wire_count(): number;
  ttun_wire_name(index: number, out: number): number;
  ttun_wire_value(index: number): bigint;
  ttun_wire_magic(out: number): void;
}

export class BadFrameError extends Error {
  readonly code = 'EBADFRAME';
}

/** The module numbers ciphers in the order of CipherKind::ALL, which CIPHERS follows. */
const cipherId = (cipher: CipherName) => CIPHERS.indexOf(cipher);

export interface WasmCore extends ProtocolCore {
  readonly kind: 'wasm';
}

export function wasmPath(): URL {
  return pathToFileURL(join(PACKAGE_ROOT, 'wasm', 'ttun-core.wasm'));
}

export function loadWasmCore(path: URL = wasmPath()): WasmCore {
  const module = new WebAssembly.Module(readFileSync(path));
  const w = new WebAssembly.Instance(module, {}).exports as unknown as WasmExports;
  // Memory may grow on any call, so each view is taken fresh.
  const memory = () => new Uint8Array(w.memory.buffer);

  /** Runs `body` with the given buffers copied into module memory; frees them afterwards. */
  function withBuffers<T>(inputs: Array<Uint8Array | number>, body: (ptrs: number[]) => T): T {
    const sizes = inputs.map((input) => (typeof input === 'number' ? input : input.length));
    const ptrs = sizes.map((size) => w.ttun_alloc(size));
    try {
      inputs.forEach((input, i) => {
        if (typeof input !== 'number') memory().set(input, ptrs[i]);
      });
      return body(ptrs);
    } finally {
      for (const [i, ptr] of ptrs.entries()) w.ttun_free(ptr, sizes[i]!);
    }
  }

  const copyOut = (ptr: number, len: number) => Buffer.from(memory().subarray(ptr, ptr + len));

  const pskKey = (psk: Uint8Array) =>
    withBuffers([psk, 32], ([p, out]) => {
      w.ttun_psk_key(p!, psk.length, out!);
      return copyOut(out!, 32);
    });

  const sessionKey = (k: Uint8Array, nc: Uint8Array, ns: Uint8Array) =>
    withBuffers([k, nc, ns, 32], ([pk, pnc, pns, out]) => {
      w.ttun_session_key(pk!, pnc!, pns!, out!);
      return copyOut(out!, 32);
    });

  const sealFrame = (cipher: CipherName, key: Uint8Array, direction: Direction, counter: number, plaintext: Uint8Array) =>
    withBuffers([key, plaintext, plaintext.length + 2 + TAG_LEN], ([pk, pt, out]) => {
      const n = w.ttun_seal_frame(cipherId(cipher), pk!, direction, BigInt(counter), pt!, plaintext.length, out!);
      if (n < 0) throw new Error(`cannot seal a ${plaintext.length}-byte frame`);
      return copyOut(out!, n);
    });

  const openFrame = (cipher: CipherName, key: Uint8Array, direction: Direction, counter: number, body: Uint8Array) => {
    if (body.length < TAG_LEN) return null;
    return withBuffers([key, body], ([pk, pb]) => {
      const n = w.ttun_open_frame(cipherId(cipher), pk!, direction, BigInt(counter), pb!, body.length);
      return n < 0 ? null : copyOut(pb!, n);
    });
  };

  const isIpPacket = (packet: Uint8Array) => withBuffers([packet], ([p]) => w.ttun_is_ip_packet(p!, packet.length) === 1);

  const wireConstants = () => {
    const numbers: Record<string, number> = {};
    for (let i = 0; i < w.ttun_wire_count(); i++) {
      const name = withBuffers([64], ([out]) => copyOut(out!, w.ttun_wire_name(i, out!)).toString('latin1'));
      numbers[name] = Number(w.ttun_wire_value(i));
    }
    const magic = withBuffers([8], ([out]) => {
      w.ttun_wire_magic(out!);
      return copyOut(out!, 8);
    });
    return { numbers, magic };
  };

  class FrameSealer implements FrameSealerLike {
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

  /**
   * ttun-proto's Receiver inside the module: frames may straddle chunks; a bad frame ends the
   * stream for good. The module's receiver is freed once this object is collected.
   */
  class FrameReceiver implements FrameReceiverLike {
    private static readonly registry = new FinalizationRegistry<number>((ptr) => w.ttun_receiver_free(ptr));
    private readonly ptr: number;
    constructor(cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) {
      this.ptr = withBuffers([key], ([pk]) => w.ttun_receiver_new(cipherId(cipher), pk!, direction, BigInt(firstCounter)));
      if (this.ptr === 0) throw new Error(`unknown cipher ${cipher} or direction ${direction}`);
      FrameReceiver.registry.register(this, this.ptr);
    }
    receive(chunk: Buffer): Buffer[] {
      const failed = withBuffers([chunk], ([pc]) => w.ttun_receiver_feed(this.ptr, pc!, chunk.length) !== 0);
      const output = copyOut(w.ttun_receiver_output(this.ptr), w.ttun_receiver_output_len(this.ptr));
      if (failed) throw new BadFrameError(output.toString('utf8'));
      const packets: Buffer[] = [];
      forEachRecord(output, (packet) => packets.push(packet));
      return packets;
    }
  }

  return { kind: 'wasm', pskKey, sessionKey, sealFrame, openFrame, isIpPacket, wireConstants, FrameSealer, FrameReceiver };
}
