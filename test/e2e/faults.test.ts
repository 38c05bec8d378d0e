// Faults on the path and at the ends, with the real CLI: dead peers are noticed, the client comes
// back by itself, loss does not corrupt data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, TOOLS } from './harness.js';

const PSK = 'e2e test key: faults';

function tunnel(lab: Lab) {
  return lab.tunnel(PSK);
}

test('dead peer: a black-holed path is noticed by both ends within 60 s; the client reconnects once it is back', {
  timeout: 180_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const { server, client } = await tunnel(lab);
  // Traffic flows while the path dies.
  const pings = lab.exec(lab.clients[0]!, ['ping', '-i', '0.2', '-w', '70', '10.1.1.1'], 90_000);
  const veth = lab.serverVeths[0]!;
  await lab.nft('add', 'table', 'inet', 'blackhole');
  await lab.nft('add', 'chain', 'inet', 'blackhole', 'in', '{ type filter hook input priority 0 ; }');
  await lab.nft('add', 'chain', 'inet', 'blackhole', 'out', '{ type filter hook output priority 0 ; }');
  await lab.nft('add', 'rule', 'inet', 'blackhole', 'in', 'iifname', veth, 'drop');
  await lab.nft('add', 'rule', 'inet', 'blackhole', 'out', 'oifname', veth, 'drop');
  const cut = Date.now();
  const clientSaw = await client.waitForEvent('down', () => true, { timeoutMs: 60_000 });
  const serverSaw = await server.waitForEvent('down', () => true, { timeoutMs: 60_000 - (Date.now() - cut) });
  assert.ok(Date.now() - cut < 60_000);
  for (const saw of [clientSaw, serverSaw]) {
    assert.equal(saw.reason, 'connection-error');
    assert.match(String(saw.detail), /timed out/i);
  }
  const mark = client.lines.length;
  await lab.nft('delete', 'table', 'inet', 'blackhole');
  await client.waitForEvent('up', () => true, { timeoutMs: 45_000, from: mark });
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  await pings;
});

test('server SIGKILLed and restarted, client SIGKILLed and restarted, veth down and up: traffic resumes each time', {
  timeout: 120_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  let { server, client } = await tunnel(lab);

  server.kill('SIGKILL');
  await server.exited;
  server = lab.ttun(lab.server, ['server', '-k', PSK]);
  await lab.waitForPing(ns, '10.1.1.1', 40_000);

  client.kill('SIGKILL');
  await client.exited;
  await server.waitForEvent('down');
  client = lab.ttun(ns, ['client', '-k', PSK, '-s', lab.serverAddress()]);
  await lab.waitForPing(ns, '10.1.1.1');
  assert.equal((await lab.ping(lab.server, 'fc11::2')).code, 0);

  const veth = lab.serverVeths[0]!;
  await lab.exec(lab.server, ['ip', 'link', 'set', veth, 'down']);
  // The outage is real before it ends: a ping through the tunnel goes unanswered (rather than a
  // fixed sleep, which proves nothing about the path on a busy machine).
  const during = await lab.exec(ns, ['ping', '-c', '1', '-W', '2', '10.1.1.1']);
  assert.notEqual(during.code, 0, `a ping crossed a link that is down: ${during.stdout}`);
  await lab.exec(lab.server, ['ip', 'link', 'set', veth, 'up']);
  await lab.waitForPing(ns, '10.1.1.1', 30_000);
  assert.equal((await lab.ping(lab.server, '10.1.1.2')).code, 0);
});

test('1% random loss on the path: 64 MiB still arrives with the right sha256', { timeout: 300_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  await tunnel(lab);
  const veth = lab.serverVeths[0]!;
  await lab.nft('add', 'table', 'inet', 'lossy');
  await lab.nft('add', 'chain', 'inet', 'lossy', 'in', '{ type filter hook input priority 0 ; }');
  await lab.nft('add', 'chain', 'inet', 'lossy', 'out', '{ type filter hook output priority 0 ; }');
  await lab.nft('add', 'rule', 'inet', 'lossy', 'in', 'iifname', veth, 'numgen', 'random', 'mod', '100', '==', '0', 'counter', 'drop');
  await lab.nft('add', 'rule', 'inet', 'lossy', 'out', 'oifname', veth, 'numgen', 'random', 'mod', '100', '==', '0', 'counter', 'drop');
  const sink = lab.spawn(lab.server, [process.execPath, join(TOOLS, 'tcp-sink.js'), '10.1.1.1', '5001']);
  await sink.waitForLine(/listening/);
  const source = lab.spawn(lab.clients[0]!, [process.execPath, join(TOOLS, 'tcp-source.js'), '10.1.1.1', '5001', '64']);
  const sent = await source.waitForLine(/^bytes=/, 240_000);
  assert.equal(await sink.waitForLine(/^bytes=/), sent);
  // The loss really happened.
  const rules = await lab.exec(lab.server, ['nft', 'list', 'table', 'inet', 'lossy']);
  const dropped = [...rules.stdout.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
  // veth carries GSO super-packets, so 1% of packets is tens of drops here, each up to 64 KiB.
  assert.ok(dropped[0]! > 0 && dropped[0]! + dropped[1]! >= 3, `dropped in / out: ${dropped}`);
});
