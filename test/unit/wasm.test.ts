// The WebAssembly core with the native addon hidden (TTUN_NATIVE=off): vectors byte for byte, and
// a userspace client on it completing a handshake with, and exchanging a packet with, a server
// on the native addon.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createServer } from '../../ts/index.js';

const TOOL = join(fileURLToPath(new URL('.', import.meta.url)), 'tools', 'wasm-client.js');

test('with the native addon hidden, the API runs on the WebAssembly core against a native server', { timeout: 30_000 }, async () => {
  const key = 'wasm core test key: long enough';
  const server = await createServer({ psk: key, listen: '127.0.0.1:0', tun: false });
  try {
    assert.equal(server.coreKind, 'native');
    // Echo what the client sends.
    void (async () => {
      for await (const packet of server.packets()) server.send(packet);
    })();
    const child = spawn(process.execPath, [TOOL, String(server.address().port), key], {
      env: { ...process.env, TTUN_NATIVE: 'off' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    const result = JSON.parse(out.trim());
    assert.equal(code, 0, out);
    assert.equal(result.kind, 'wasm');
    assert.equal(result.endpointCore, 'wasm');
    assert.ok(Object.keys(result.checks).length >= 12, JSON.stringify(result.checks));
    for (const [name, ok] of Object.entries(result.checks)) assert.equal(ok, true, name);
    assert.equal(result.echoed, true);
  } finally {
    await server.close();
  }
});

test('with the native addon hidden, a TUN endpoint says what is missing in one line', async () => {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `
    const { createServer } = await import(${JSON.stringify(new URL('../../ts/index.js', import.meta.url).href)});
    try { await createServer({ psk: 'x'.repeat(20), listen: '127.0.0.1:0' }); } catch (e) { console.log(e.code + ' ' + e.message); }
  `,
      '--input-type=module',
    ],
    { env: { ...process.env, TTUN_NATIVE: 'off' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((resolve) => child.on('exit', resolve));
  assert.match(
    out.trim(),
    /^ENONATIVE no native addon for linux-x64-gnu \(TTUN_NATIVE=off\); .*only the userspace mode, tun: false, works/,
  );
});
