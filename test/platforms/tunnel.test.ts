// A real TUN tunnel between this machine's build and a foreign one run under qemu-user: the
// server is the x64 CLI, the client the same CLI on an emulated Node (arm64, armv7) loading that
// architecture's addon from packages/. Run by scripts/test-platforms.sh, which sets
// TTUN_EMU_CLIENT to the command prefix (JSON array: qemu, its sysroot, the foreign node).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, TTUN } from '../e2e/harness.js';

const prefix = JSON.parse(process.env.TTUN_EMU_CLIENT ?? 'null') as string[] | null;

test(`an emulated client (${prefix?.join(' ')}) pings an x64 server through real TUN devices`, { timeout: 240_000 }, async (t) => {
  assert.ok(prefix, 'TTUN_EMU_CLIENT is not set (scripts/test-platforms.sh sets it)');
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  // The prefix really runs a foreign Node, and it loads its own architecture's addon.
  const probe = await lab.exec(
    lab.clients[0]!,
    [
      ...prefix,
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(new URL('../../ts/core/native.js', import.meta.url).href)}); m.loadNative(); console.log(process.arch, m.platformTriple(), m.nativeLibraryDir())`,
    ],
    120_000,
  );
  assert.equal(probe.code, 0, probe.stderr);
  assert.notEqual(probe.stdout.split(' ')[0], process.arch, probe.stdout);
  t.diagnostic(`client: ${probe.stdout.trim()}`);
  const psk = 'emulated client tunnel test key';
  const server = lab.ttun(lab.server, ['server', '-k', psk]);
  await server.waitForLine(/listening on/);
  const client = lab.spawn(lab.clients[0]!, [...prefix, TTUN, 'client', '-k', psk, '-s', lab.serverAddress()]);
  // Node under qemu starts in seconds, not milliseconds.
  await client.waitForLine(/session up/, 120_000);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1', 60_000);
  const v4 = await lab.ping(lab.clients[0]!, '10.1.1.1');
  assert.match(v4.stdout, /3 received, 0% packet loss/);
  const v6 = await lab.ping(lab.server, 'fc11::2');
  assert.match(v6.stdout, /3 received, 0% packet loss/, v6.stdout + v6.stderr);
});
