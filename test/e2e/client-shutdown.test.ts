// Ctrl-C while the client's connection attempt is still unanswered, as with a server behind a
// firewall that drops packets: the real CLI must shut down at once. close() used to wait forever
// for the connect it had just abandoned; the process then exited only when nothing else was left
// on its event loop (after the 10 s connect deadline), and never with --metrics, whose listener
// close() had not reached yet. The metrics listener is here to make that a hang, not a delay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab } from './harness.js';

const PSK = 'e2e test key: client shutdown';

test('SIGINT while connecting to a server that drops every packet: the client exits 0 and removes its TUN', {
  timeout: 60_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  // Nothing answers on the server's side, not even with a reset: SYNs go unanswered.
  await lab.nft('add', 'table', 'inet', 'blackhole');
  await lab.nft('add', 'chain', 'inet', 'blackhole', 'in', '{ type filter hook input priority 0 ; }');
  await lab.nft('add', 'rule', 'inet', 'blackhole', 'in', 'iifname', lab.serverVeths[0]!, 'drop');
  const ns = lab.clients[0]!;
  const client = lab.ttun(ns, ['client', '-k', PSK, '-s', lab.serverAddress(), '--metrics', '9464']);
  await client.waitForEvent('connecting', (e) => e.server === lab.serverAddress());
  assert.ok((await lab.links(ns)).includes('ttun0'));

  client.kill('SIGINT');
  assert.deepEqual(await client.exited, { code: 0, signal: null });
  assert.ok(!(await lab.links(ns)).includes('ttun0'), 'client TUN removed');
  assert.equal(client.events('shutdown').length, 1);
  assert.equal(client.events('shutdown')[0]!.signal, 'SIGINT');
  // The second-signal path ('exiting without waiting') must not have been needed.
  assert.equal(client.events('shutdown').filter((e) => e.level === 'warn').length, 0);
});
