// Packets larger than the TUN's MTU: a route through the tunnel may carry a larger `mtu` than the
// device (`ip route add ... dev ttun0 mtu 9000`), and the kernel then hands the TUN packets of
// that size. ttun carries every packet up to the protocol's 65519 bytes, in both directions, on
// every data path, and what it cannot carry is dropped without ending the tunnel. Real CLI, real
// TUN devices, real ping and TCP.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, type NsProcess, TOOLS } from './harness.js';

const PSK = 'e2e test key: oversize';

/**
 * Routes the peer's tunnel addresses over ttun0 with route MTU `mtu`, on both ends: IPv4 and IPv6,
 * or IPv4 only. `verb` is `add` for a new route, `change` for one bigRoutes added before.
 */
async function bigRoutes(lab: Lab, mtu: number, { verb = 'add', families = ['-4', '-6'] } = {}): Promise<void> {
  for (const [ns, address] of lab.tunnelEnds()) {
    const family = address.includes(':') ? '-6' : '-4';
    if (!families.includes(family)) continue;
    const prefix = family === '-6' ? `${address}/128` : `${address}/32`;
    const routed = await lab.exec(ns, ['ip', family, 'route', verb, prefix, 'dev', 'ttun0', 'mtu', String(mtu)]);
    assert.equal(routed.code, 0, `route ${verb} ${prefix} mtu ${mtu} in ${ns}: ${routed.stderr}`);
  }
}

/** `count` pings of `size` payload bytes, never fragmented (-M do): each crosses as one packet. */
async function bigPing(lab: Lab, ns: string, address: string, size: number, count = 3) {
  return lab.exec(ns, ['ping', '-c', String(count), '-i', '0.2', '-W', '3', '-M', 'do', '-s', String(size), address], 30_000);
}

/** The tunnel is still the same one: a normal ping crosses and neither end logged a disconnect or an error. */
async function assertStillUp(lab: Lab, server: NsProcess, client: NsProcess): Promise<void> {
  const ping = await lab.ping(lab.clients[0]!, '10.1.1.1');
  assert.match(ping.stdout, /3 packets transmitted, 3 received/, ping.stdout + ping.stderr);
  for (const [name, proc] of [
    ['server', server],
    ['client', client],
  ] as const) {
    const bad = proc.events().filter((e) => e.event === 'down' || e.level === 'error');
    assert.deepEqual(bad, [], `${name} output:\n${proc.output}`);
  }
}

const cases = [
  { cipher: 'chacha20-poly1305', datapath: 'auto' },
  { cipher: 'aes-256-gcm', datapath: 'auto' },
  { cipher: 'chacha20-poly1305', datapath: 'event-loop' },
  { cipher: 'aes-256-gcm', datapath: 'event-loop' },
];

for (const { cipher, datapath } of cases) {
  test(`8000-byte pings over a route with mtu 9000 cross both ways (${cipher}, ${datapath} data path)`, { timeout: 90_000 }, async (t) => {
    const lab = await Lab.create();
    t.after(() => lab.destroy());
    const { server, client } = await lab.tunnel(PSK, { args: ['-m', cipher, '--datapath', datapath] });
    await bigRoutes(lab, 9000);
    for (const [ns, address] of lab.tunnelEnds()) {
      const result = await bigPing(lab, ns, address, 8000);
      // 8008 bytes of ICMP reply: the whole 8028-byte (8048 for IPv6) packet came back.
      assert.match(
        result.stdout,
        /3 packets transmitted, 3 received, 0% packet loss/,
        `${ns} -> ${address}: ${result.stdout}${result.stderr}`,
      );
      assert.match(result.stdout, /^8008 bytes from/m);
    }
    await assertStillUp(lab, server, client);
  });
}

test('the largest packets: 65519 bytes cross both ways, 65520 are dropped, and TCP over a 65000-byte route MTU arrives intact', {
  timeout: 180_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const { server, client } = await lab.tunnel(PSK);
  await bigRoutes(lab, 65535);
  const client0 = lab.clients[0]!;
  // 65491 bytes of ICMP payload + 8 + 20 = 65519 bytes, the most a frame carries.
  for (const [ns, address] of [
    [client0, '10.1.1.1'],
    [lab.server, '10.1.1.2'],
  ] as const) {
    const largest = await bigPing(lab, ns, address, 65491, 2);
    assert.match(largest.stdout, /2 packets transmitted, 2 received, 0% packet loss/, largest.stdout + largest.stderr);
  }
  // One byte more cannot be sealed: the request is dropped (counted), the tunnel stays.
  const tooBig = await bigPing(lab, client0, '10.1.1.1', 65492, 1);
  assert.match(tooBig.stdout, /1 packets transmitted, 0 received/, tooBig.stdout + tooBig.stderr);
  const dropped = await client.waitForEvent('dropped', (e) => e.kind === 'too-big');
  assert.equal(dropped.count, 1, dropped.message);
  await assertStillUp(lab, server, client);

  // TCP segments as large as the route allows (TSO super-packets of ~65 KB segments), both ways.
  await bigRoutes(lab, 65000, { verb: 'change', families: ['-4'] });
  const up = await transfer(lab, client0, lab.server, '10.1.1.1', 16);
  assert.equal(up.received, up.sent);
  const down = await transfer(lab, lab.server, client0, '10.1.1.2', 16);
  assert.equal(down.received, down.sent);
  await assertStillUp(lab, server, client);
});

test('a TCP flow with the smallest MSS (48): super-packets split into hundreds of segments still cross', {
  timeout: 180_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const { server, client } = await lab.tunnel(PSK);
  // The server advertises MSS 48, so the client's TCP sends 48-byte segments, which its kernel
  // hands the TUN as TSO super-packets of up to 64 KiB: over a thousand segments each.
  const advmss = await lab.exec(lab.server, ['ip', 'route', 'add', '10.1.1.2/32', 'dev', 'ttun0', 'advmss', '48']);
  assert.equal(advmss.code, 0, advmss.stderr);
  const up = await transfer(lab, lab.clients[0]!, lab.server, '10.1.1.1', 2);
  assert.equal(up.received, up.sent);
  await assertStillUp(lab, server, client);
});

test('the packet API (openTun) reads and writes 8000- and 65000-byte packets', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  const echo = lab.spawn(ns, [process.execPath, join(TOOLS, 'tun-echo.js')]);
  assert.match(await echo.waitForLine(/^ready/), /^ready ttun0$/);
  const route = await lab.exec(ns, ['ip', 'route', 'add', '10.1.1.1/32', 'dev', 'ttun0', 'mtu', '65535']);
  assert.equal(route.code, 0, route.stderr);
  for (const size of [8000, 65000]) {
    const result = await bigPing(lab, ns, '10.1.1.1', size, 2);
    assert.match(result.stdout, /2 packets transmitted, 2 received, 0% packet loss/, result.stdout + echo.output);
  }
  await echo.waitForLine(/^answered 4$/);
});

test('a TUN deleted under a running client is a fatal error, reported once, not a drop per read', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const { client } = await lab.tunnel(PSK);
  const deleted = await lab.exec(lab.clients[0]!, ['ip', 'link', 'del', 'ttun0']);
  assert.equal(deleted.code, 0, deleted.stderr);
  // Every read of a deleted TUN fails with an OS error (EBADFD): after a few retries the reader
  // gives up and the CLI reports it, instead of spinning or counting drops forever.
  const fatal = await client.waitForEvent('fatal', () => true, { timeoutMs: 10_000 });
  assert.equal(fatal.level, 'error');
  assert.match(fatal.message, /ttun0/, 'it names the device');
  const exit = await Promise.race([client.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
  assert.notEqual(exit, 'still running', client.output);
});

/** lab.transfer, which must also have carried all `mib` MiB. */
async function transfer(lab: Lab, fromNs: string, toNs: string, toAddress: string, mib: number) {
  const result = await lab.transfer(fromNs, toNs, toAddress, mib);
  assert.match(result.received, new RegExp(`^bytes=${mib * 1024 * 1024} sha256=`));
  return result;
}
