// The handshake primitives the TypeScript side uses (through the napi addon) against the
// known-answer vectors of test/vectors/ttun-v1-vectors.json, byte for byte.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadNative } from '../../ts/core/native.js';
import { Direction, MAGIC } from '../../ts/core/protocol.js';
import type { CipherName } from '../../ts/options/values.js';

interface VectorCase {
  cipher: CipherName;
  psk_utf8: string;
  K: string;
  client_nonce: string;
  server_nonce: string;
  SK: string;
  packets: string[];
  client_to_server_stream: string;
  server_to_client_stream: string;
}

const vectors = JSON.parse(readFileSync(new URL('../../../test/vectors/ttun-v1-vectors.json', import.meta.url), 'utf8')) as {
  cases: VectorCase[];
};
const hex = (s: string) => Buffer.from(s, 'hex');
const native = loadNative();

/** Splits a stream into frame bodies (without the length prefix). */
function frameBodies(stream: Buffer): Buffer[] {
  const bodies: Buffer[] = [];
  for (let at = 0; at < stream.length; ) {
    const length = stream.readUInt16BE(at);
    bodies.push(stream.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return bodies;
}

test('vectors include both ciphers and a 65519-byte packet', () => {
  assert.ok(vectors.cases.some((c) => c.cipher === 'chacha20-poly1305'));
  assert.ok(vectors.cases.some((c) => c.cipher === 'aes-256-gcm'));
  assert.ok(vectors.cases.some((c) => c.packets.some((p) => p.length / 2 === 65519)));
});

for (const [index, c] of vectors.cases.entries()) {
  test(`case ${index} (${c.cipher}): K and SK`, () => {
    const k = native.pskKey(Buffer.from(c.psk_utf8, 'utf8'));
    assert.equal(k.toString('hex'), c.K);
    assert.equal(native.sessionKey(k, hex(c.client_nonce), hex(c.server_nonce)).toString('hex'), c.SK);
  });

  for (const [direction, streamHex] of [
    [Direction.ClientToServer, c.client_to_server_stream],
    [Direction.ServerToClient, c.server_to_client_stream],
  ] as const) {
    test(`case ${index} (${c.cipher}): sealFrame reproduces the ${direction === 0 ? 'client' : 'server'} stream`, () => {
      const plaintexts = [MAGIC, ...c.packets.map(hex)];
      const sealed = Buffer.concat(plaintexts.map((p, counter) => native.sealFrame(c.cipher, hex(c.SK), direction, counter, p)));
      assert.ok(sealed.equals(hex(streamHex)), 'sealed stream differs from the vector');
    });

    test(`case ${index} (${c.cipher}): openFrame opens the ${direction === 0 ? 'client' : 'server'} stream and refuses tampering`, () => {
      const bodies = frameBodies(hex(streamHex));
      const plaintexts = [MAGIC, ...c.packets.map(hex)];
      assert.equal(bodies.length, plaintexts.length);
      bodies.forEach((body, counter) => {
        assert.ok(native.openFrame(c.cipher, hex(c.SK), direction, counter, body)?.equals(plaintexts[counter]!));
      });
      const tampered = Buffer.from(bodies[0]!);
      tampered[3]! ^= 0x40;
      assert.equal(native.openFrame(c.cipher, hex(c.SK), direction, 0, tampered), null);
      assert.equal(native.openFrame(c.cipher, hex(c.SK), direction, 1, bodies[0]!), null, 'wrong counter');
      assert.equal(native.openFrame(c.cipher, hex(c.SK), 1 - direction, 0, bodies[0]!), null, 'wrong direction');
      assert.equal(native.openFrame(c.cipher, hex(c.SK), direction, 0, bodies[0]!.subarray(0, 15)), null, 'shorter than a tag');
    });
  }
}
