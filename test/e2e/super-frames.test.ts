// Super-frames end to end: the real CLI at both ends, real TUN devices with the kernel's offload,
// real TCP. A TCP super-packet to the peer's own tunnel address crosses as one frame once the
// peer has answered the probe; everything still arrives intact; --super-frames=false sends none;
// and a peer that forwards the probe's address (it is not its own) never gets one.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, run, TOOLS } from './harness.js';

const PSK = 'e2e test key: super-frames';

/** One counter from the metrics of the ttun in `ns` (served on 127.0.0.1:9464). */
async function counter(lab: Lab, ns: string, name: string): Promise<number> {
  const result = await lab.exec(ns, [process.execPath, join(TOOLS, 'http-get.js'), 'http://127.0.0.1:9464/metrics']);
  assert.equal(result.code, 0, result.stderr);
  const line = result.stdout.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in the metrics of ${ns}`);
  return Number(line.split(' ')[1]);
}

async function assertIntact(lab: Lab, fromNs: string, toNs: string, address: string, mib: number): Promise<void> {
  const { sent, received } = await lab.transfer(fromNs, toNs, address, mib);
  assert.match(sent, new RegExp(`^bytes=${mib * 1024 * 1024} `));
  assert.equal(received, sent, `TCP to ${address}: what arrived is what was sent`);
}

test('TCP to the peer’s tunnel address crosses in super-frames both ways, IPv4 and IPv6, intact; --super-frames=false sends none', {
  timeout: 180_000,
}, async (t) => {
  for (const superFrames of [true, false]) {
    const lab = await Lab.create();
    t.after(() => lab.destroy());
    const client = lab.clients[0]!;
    const args = ['--metrics', '9464', ...(superFrames ? [] : ['--super-frames=false'])];
    await lab.tunnel(PSK, { args });
    // Client to server over IPv4, server to client over IPv6: each end sends bulk once.
    await assertIntact(lab, client, lab.server, '10.1.1.1', 64);
    await assertIntact(lab, lab.server, client, 'fc11::2', 64);
    const sentWhole = [
      await counter(lab, client, 'ttun_tx_super_frames_total'),
      await counter(lab, lab.server, 'ttun_tx_super_frames_total'),
    ];
    if (superFrames) {
      // 64 MiB at MTU 1280 would be ~55000 packets; whole, a fraction of that many frames.
      for (const [end, count] of [
        ['client', sentWhole[0]!],
        ['server', sentWhole[1]!],
      ] as const) {
        assert.ok(count > 100, `${end} sent ${count} super-frames`);
      }
      assert.ok((await counter(lab, client, 'ttun_tx_packets_total')) < 30_000, 'fewer frames than MTU-sized packets');
    } else {
      assert.deepEqual(sentWhole, [0, 0], 'no super-frame with --super-frames=false');
    }
    await lab.destroy();
  }
});

test('a peer that would forward the packets (the address is not its own) fails the probe: TCP to it stays in MTU-sized frames and arrives', {
  timeout: 120_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const client = lab.clients[0]!;
  // The client is 10.9.0.2/30, so it takes 10.9.0.1 to be the server's tunnel address. But the
  // server is 10.9.0.5/30, routes 10.9.0.0/30 back through the tunnel, and forwards 10.9.0.1 to a
  // host behind it over a 1500-byte link: a 64 KiB packet cannot get there whole.
  const far = `${lab.server}f`;
  const [vs, vf] = [`vf${process.pid % 10000}s`, `vf${process.pid % 10000}f`];
  t.after(() => run('ip', ['netns', 'del', far]));
  for (const command of [
    ['netns', 'add', far],
    ['link', 'add', vs, 'type', 'veth', 'peer', 'name', vf],
    ['link', 'set', vs, 'netns', lab.server],
    ['link', 'set', vf, 'netns', far],
    ['-n', lab.server, 'addr', 'add', '10.250.9.1/24', 'dev', vs],
    ['-n', lab.server, 'link', 'set', vs, 'up'],
    ['-n', far, 'link', 'set', 'lo', 'up'],
    ['-n', far, 'addr', 'add', '10.250.9.2/24', 'dev', vf],
    ['-n', far, 'addr', 'add', '10.9.0.1/32', 'dev', 'lo'],
    ['-n', far, 'link', 'set', vf, 'up'],
    ['-n', far, 'route', 'add', 'default', 'via', '10.250.9.1'],
  ]) {
    const result = await run('ip', command);
    assert.equal(result.code, 0, `ip ${command.join(' ')}: ${result.stderr}`);
  }
  assert.equal((await lab.exec(lab.server, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])).code, 0);
  const server = lab.ttun(lab.server, ['server', '-k', PSK, '--address', '10.9.0.5/30', '--route', '10.9.0.0/30']);
  await server.waitForEvent('listening');
  const routed = await run('ip', ['-n', lab.server, 'route', 'add', '10.9.0.1/32', 'via', '10.250.9.2']);
  assert.equal(routed.code, 0, routed.stderr);
  lab.ttun(client, ['client', '-k', PSK, '-s', lab.serverAddress(), '--address', '10.9.0.2/30', '--metrics', '9464']);
  await server.waitForEvent('up');
  await lab.waitForPing(client, '10.9.0.1');
  await assertIntact(lab, client, far, '10.9.0.1', 16);
  assert.equal(await counter(lab, client, 'ttun_tx_super_frames_total'), 0, 'no super-frame to an address the peer forwards');
  assert.ok((await counter(lab, client, 'ttun_tx_packets_total')) > 10_000, 'the transfer went as MTU-sized packets');
});
