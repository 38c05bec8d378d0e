// ts/shared/wire.ts is generated from the Rust core (scripts/build-native.mjs): both cores, the
// addon and the WebAssembly build, must export exactly what it says, so no size of the wire
// format is typed twice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadNative } from '../../ts/core/native.js';
import { loadWasmCore } from '../../ts/core/wasm-core.js';
import * as wire from '../../ts/shared/wire.js';

const { MAGIC, ...numbers } = wire;

for (const [name, core] of [
  ['the addon', () => loadNative()],
  ['the WebAssembly core', () => loadWasmCore()],
] as const) {
  test(`${name} exports the wire constants ts/shared/wire.ts holds`, () => {
    const exported = core().wireConstants();
    assert.deepEqual(exported.numbers, numbers);
    assert.ok(Buffer.from(exported.magic).equals(MAGIC));
  });
}

test('the sizes fit together as the protocol says', () => {
  assert.equal(MAGIC.toString('latin1'), 'TTUN/v1\0');
  assert.equal(wire.MAX_PLAINTEXT_LEN, wire.MAX_FRAME_BODY_LEN - wire.TAG_LEN);
  assert.equal(wire.FRAME_OVERHEAD, wire.LENGTH_PREFIX_LEN + wire.TAG_LEN);
  assert.equal(wire.MAX_MTU, wire.MAX_PLAINTEXT_LEN);
});
