// Where the CLI's key comes from (ts/psk-source.ts): a key file gives its bytes as they are, so a
// key that is not UTF-8 derives the same K as v1, which used the raw bytes of its -k argument.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCore } from '../../ts/core/native.js';
import { resolvePsk } from '../../ts/options/psk-source.js';
import { parsePsk } from '../../ts/options/values.js';

/** K = BLAKE2s-256("ttun/psk/v1" ‖ psk), computed here independently of the addon. */
function v1Key(psk: Buffer): Buffer {
  return createHash('blake2s256').update('ttun/psk/v1').update(psk).digest();
}

function keyFile(t: { after: (fn: () => void) => void }, bytes: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-psk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'key');
  writeFileSync(path, bytes, { mode: 0o600 });
  return path;
}

test('a Latin-1 key file gives the K of its raw bytes, as v1 -k does, not the K of a UTF-8 re-encoding', (t) => {
  // "schlüssel-geheim-ß" in Latin-1: ü and ß are single bytes (0xfc, 0xdf) that are not valid UTF-8.
  const raw = Buffer.from('schlüssel-geheim-ß', 'latin1');
  const choice = resolvePsk({ file: keyFile(t, Buffer.concat([raw, Buffer.from('\n')])) });
  assert.deepEqual(Buffer.from(choice.psk), raw, 'the bytes of the file without its newline');
  // What the endpoint derives from it (the same path createServer/connect take: parsePsk, then the core).
  const derived = loadCore().pskKey(parsePsk(choice.psk));
  assert.deepEqual(derived, v1Key(raw));
  // Reading the file as text would have turned each of those bytes into U+FFFD: another key.
  const reencoded = Buffer.from(raw.toString('utf8'), 'utf8');
  assert.notDeepEqual(reencoded, raw);
  assert.notDeepEqual(derived, v1Key(reencoded));
  assert.deepEqual(choice.warnings, [], 'a 18-byte key from a 0600 file needs no warning');
});

test('a key file loses one trailing \\n or \\r\\n and nothing else', (t) => {
  const cases: Array<[string, string]> = [
    ['key-0123456789abcdef\n', 'key-0123456789abcdef'],
    ['key-0123456789abcdef\r\n', 'key-0123456789abcdef'],
    ['key-0123456789abcdef\n\n', 'key-0123456789abcdef\n'],
    ['key-0123456789abcdef', 'key-0123456789abcdef'],
    [' key-0123456789abcdef \r', ' key-0123456789abcdef \r'],
  ];
  for (const [file, key] of cases) {
    assert.deepEqual(Buffer.from(resolvePsk({ file: keyFile(t, Buffer.from(file)) }).psk), Buffer.from(key), JSON.stringify(file));
  }
  assert.throws(() => resolvePsk({ file: keyFile(t, Buffer.from('\n')) }), /the pre-shared key is empty/);
});

test('a -k or TTUN_PSK value Node had to repair (U+FFFD) warns that it is not the key v1 would use; a clean one does not', () => {
  // What Node makes of argv or environment bytes that are not UTF-8.
  const mangled = Buffer.from([
    0x6b, 0x65, 0x79, 0xfc, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62,
  ]).toString('utf8');
  assert.ok(mangled.includes('\uFFFD'));
  const fromFlag = resolvePsk({ flag: mangled });
  assert.ok(
    fromFlag.warnings.some((w) => /from -k is not valid UTF-8 .*--psk-file/.test(w)),
    fromFlag.warnings.join('\n'),
  );
  const fromEnv = resolvePsk({ env: mangled });
  assert.ok(
    fromEnv.warnings.some((w) => /from TTUN_PSK is not valid UTF-8/.test(w)),
    fromEnv.warnings.join('\n'),
  );
  assert.deepEqual(resolvePsk({ env: 'päss-wört-0123456789' }).warnings, [], 'valid UTF-8 (its bytes are what v1 used) is fine');
  for (const warning of [...fromFlag.warnings, ...fromEnv.warnings]) assert.ok(!warning.includes(mangled), 'the key is never in a warning');
});

test('the -k warning says the key also stays in the command line of whatever started ttun (sudo)', () => {
  const { warnings } = resolvePsk({ flag: 'a long enough key 0123456789' });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /process list/);
  assert.match(warnings[0]!, /sudo/);
  assert.match(warnings[0]!, /--psk-file or TTUN_PSK/);
});
