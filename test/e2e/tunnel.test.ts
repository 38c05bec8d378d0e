// The tunnel carries traffic: ping and ping6 both ways with each cipher, and 64 MiB of TCP each
// way whose sha256 matches on the far side. Real CLI, real TUN devices, real namespaces.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, type NsProcess, TOOLS } from './harness.js';

const PSK = 'e2e test key: tunnel';

function startTunnel(lab: Lab, cipher: string, extra: string[] = []) {
  return lab.tunnel(PSK, { args: ['-m', cipher, ...extra] });
}

/**
 * Whether process `pid` has the addon's socket-reader thread, which exists only while the
 * native data path carries a session (the event-loop path leaves the socket to Node).
 */
function hasSocketReaderThread(pid: number): boolean {
  const tasks = readdirSync(`/proc/${pid}/task`);
  // Linux keeps 15 bytes of a thread's name: "ttun-sock-reader" reads back as "ttun-sock-reade".
  const comm = 'ttun-sock-reader'.slice(0, 15);
  return tasks.some((task) => readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim() === comm);
}

for (const cipher of ['chacha20-poly1305', 'aes-256-gcm']) {
  test(`ping and ping6 both ways over ${cipher}`, { timeout: 90_000 }, async (t) => {
    const lab = await Lab.create();
    t.after(() => lab.destroy());
    const { server, client } = await startTunnel(lab, cipher);
    const tun = (proc: NsProcess) => proc.events('tun').map(({ name, ipv4, ipv6, mtu }) => ({ name, ipv4, ipv6, mtu }));
    assert.deepEqual(tun(server), [{ name: 'ttun0', ipv4: '10.1.1.1/30', ipv6: 'fc11::1/126', mtu: 1280 }]);
    assert.deepEqual(tun(client), [{ name: 'ttun0', ipv4: '10.1.1.2/30', ipv6: 'fc11::2/126', mtu: 1280 }]);
    // By default the native threads carry the session on both ends.
    assert.ok(hasSocketReaderThread(server.pid) && hasSocketReaderThread(client.pid));
    for (const [ns, address] of lab.tunnelEnds()) {
      const result = await lab.ping(ns, address);
      assert.equal(result.code, 0, `ping ${address} from ${ns}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
    }
    // A full-size packet crosses too (1280 MTU: 1252 bytes of ICMP payload), not just small ones.
    const big = await lab.exec(lab.clients[0]!, ['ping', '-c', '2', '-i', '0.2', '-M', 'do', '-s', '1252', '10.1.1.1']);
    assert.equal(big.code, 0, big.stdout + big.stderr);
  });
}

test('64 MiB of TCP each way arrives intact (sha256), chacha20-poly1305', { timeout: 240_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  await startTunnel(lab, 'chacha20-poly1305');
  const up = await lab.transfer(lab.clients[0]!, lab.server, '10.1.1.1', 64);
  assert.equal(up.received, up.sent);
  assert.match(up.received, new RegExp(`^bytes=${64 * 1024 * 1024} sha256=[0-9a-f]{64}$`));
  const down = await lab.transfer(lab.server, lab.clients[0]!, 'fc11::2', 64);
  assert.equal(down.received, down.sent);
  assert.notEqual(down.sent, up.sent, 'two independent random streams');
});

test('64 MiB of TCP arrives intact (sha256), aes-256-gcm', { timeout: 240_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  await startTunnel(lab, 'aes-256-gcm');
  const up = await lab.transfer(lab.clients[0]!, lab.server, '10.1.1.1', 64);
  assert.equal(up.received, up.sent);
  assert.match(up.received, new RegExp(`^bytes=${64 * 1024 * 1024} sha256=`));
});

test('the data path through the JS event loop (--datapath event-loop, as Windows takes) carries ping and 64 MiB intact', {
  timeout: 240_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const { server, client } = await startTunnel(lab, 'chacha20-poly1305', ['--datapath', 'event-loop']);
  assert.ok(!hasSocketReaderThread(server.pid) && !hasSocketReaderThread(client.pid), 'a native thread reads the socket');
  assert.equal((await lab.ping(lab.server, 'fc11::2')).code, 0);
  const up = await lab.transfer(lab.clients[0]!, lab.server, '10.1.1.1', 64);
  assert.equal(up.received, up.sent);
  const down = await lab.transfer(lab.server, lab.clients[0]!, '10.1.1.2', 64);
  assert.equal(down.received, down.sent);
});

test('the packet API (openTun): packets read from the TUN come out of packets(), write() puts them back', {
  timeout: 60_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  const echo = lab.spawn(ns, [process.execPath, join(TOOLS, 'tun-echo.js')]);
  assert.match(await echo.waitForLine(/^ready/), /^ready ttun0$/);
  const result = await lab.ping(ns, '10.1.1.1');
  assert.match(result.stdout, /3 packets transmitted, 3 received, 0% packet loss/, result.stdout + echo.output);
  await echo.waitForLine(/^answered 3$/);
});

test("a userspace-mode client (tun: false) talks to a TUN server: its echo request gets the server kernel's reply", {
  timeout: 60_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', PSK]);
  await server.waitForEvent('listening');
  const client = lab.spawn(lab.clients[0]!, [process.execPath, join(TOOLS, 'userspace-ping.js'), lab.serverAddress()], { TTUN_PSK: PSK });
  assert.equal(await client.waitForLine(/^(reply|timeout)/), 'reply from 10.1.1.1');
  assert.ok(!(await lab.links(lab.clients[0]!)).some((l) => l.startsWith('ttun')), 'no TUN device in userspace mode');
});

test('-mptcp: both ends negotiate Multipath TCP and log it; a plain-TCP client still gets in and is told apart', {
  timeout: 60_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', PSK, '-mptcp']);
  await server.waitForEvent('listening');
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(), '-mptcp']);
  for (const end of [client, server]) {
    const up = await end.waitForEvent('up');
    assert.deepEqual([up.cipher, up.mptcp], ['chacha20-poly1305', true], up.message);
  }
  const sockets = await lab.exec(lab.server, ['ss', '-Hn', '--mptcp', 'state', 'established']);
  assert.match(sockets.stdout, /:20203/, 'the kernel lists the connection as MPTCP');
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  client.kill('SIGINT');
  await client.exited;
  const mark = server.lines.length;
  const plain = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(), '-mptcp=false']);
  assert.equal((await plain.waitForEvent('up')).mptcp, false);
  // The server asked for MPTCP (-mptcp) and says this peer did not negotiate it.
  assert.equal((await server.waitForEvent('up', () => true, { timeoutMs: 10_000, from: mark })).mptcp, false);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
});
