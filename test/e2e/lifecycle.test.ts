// Lifecycle with the real CLI: rejected peers, reconnects, takeover, clean shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lab, type LogEvent } from './harness.js';

const PSK = 'e2e test key: lifecycle';

test('a wrong PSK and the other cipher are rejected with a clear log line; the server then serves a correct client', {
  timeout: 90_000,
}, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  const server = lab.ttun(lab.server, ['server', '-k', PSK]);
  await server.waitForEvent('listening');
  /** The client's side of a refusal: the server closed after its authentication frame, which names the key as a cause. */
  const refusedForKey = (e: LogEvent) => e.reason === 'closed' && /wrong PSK or cipher\?/.test(String(e.detail));

  const wrongPsk = lab.ttun(ns, ['client', '-k', 'not the key', '-s', lab.serverAddress()]);
  const rejectedPsk = await server.waitForEvent('rejected');
  assert.equal(rejectedPsk.reason, 'auth', rejectedPsk.message);
  assert.match(String(rejectedPsk.peer), /^10\.200\.0\.2:\d+$/);
  await wrongPsk.waitForEvent('failed', refusedForKey);
  wrongPsk.kill('SIGINT');
  await wrongPsk.exited;

  const mark = server.lines.length;
  const otherCipher = lab.ttun(ns, ['client', '-k', PSK, '-m', 'aes-256-gcm', '-s', lab.serverAddress()]);
  // Its own log says it was refused; the server's event after the mark is about it (the first
  // client is gone, but an event about its last attempt could still come, so match the reason).
  await otherCipher.waitForEvent('failed', refusedForKey);
  const rejectedCipher = await server.waitForEvent('rejected', (e) => e.reason === 'auth', { from: mark });
  assert.match(String(rejectedCipher.peer), /^10\.200\.0\.2:\d+$/);
  otherCipher.kill('SIGINT');
  await otherCipher.exited;

  const good = lab.ttun(ns, ['client', '-k', PSK, '-s', lab.serverAddress()]);
  await good.waitForEvent('up');
  await lab.waitForPing(ns, '10.1.1.1');
  assert.equal((await lab.ping(ns, 'fc11::1')).code, 0);
  // The key never reaches a log line, whoever sent which key.
  for (const line of [...server.lines, ...good.lines, ...wrongPsk.lines]) {
    assert.ok(!line.includes(PSK) && !line.includes('not the key'), `key in log: ${line}`);
  }
});

test('the client comes back by itself after the server is killed and restarted', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  const { server: first, client } = await lab.tunnel(PSK);

  first.kill('SIGKILL');
  await first.exited;
  await client.waitForEvent('down');
  // The session was up for less than the first delay (1 s): what is left of it, then 2 s between refused attempts.
  const firstRetry = await client.waitForEvent('reconnecting');
  assert.ok(Number(firstRetry.delayMs) <= 1000, firstRetry.message);
  // The doubled delay, less the time the refused attempt took.
  await client.waitForEvent('reconnecting', (e) => Number(e.delayMs) > 1000 && Number(e.delayMs) <= 2000);
  const tunBefore = await lab.links(ns);
  assert.ok(tunBefore.includes('ttun0'), 'the client keeps its TUN while disconnected');

  const mark = client.lines.length;
  const second = lab.ttun(lab.server, ['server', '-k', PSK]);
  await second.waitForEvent('listening');
  await client.waitForEvent('up', () => true, { timeoutMs: 40_000, from: mark });
  await lab.waitForPing(ns, '10.1.1.1');
  assert.equal((await lab.ping(lab.server, 'fc11::2')).code, 0);
  assert.deepEqual(
    (await lab.links(ns)).filter((l) => l.startsWith('ttun')),
    ['ttun0'],
    'same TUN across reconnects',
  );
});

test('a second correct client takes over from the first', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create(2);
  t.after(() => lab.destroy());
  const nsB = lab.clients[1]!;
  const { server, client: clientA } = await lab.tunnel(PSK);

  const clientB = lab.ttun(nsB, ['client', '-k', PSK, '-s', lab.serverAddress(1)]);
  await clientB.waitForEvent('up');
  const replaced = await server.waitForEvent('down', (e) => String(e.peer).startsWith('10.200.0.2:'));
  assert.equal(replaced.reason, 'replaced');
  assert.match(String(replaced.detail), /^10\.200\.1\.2:\d+$/);
  await clientA.waitForEvent('down');
  // Stop A before its reconnect takes the session back, then B's session must carry traffic.
  clientA.kill('SIGINT');
  await clientA.exited;
  await lab.waitForPing(nsB, '10.1.1.1');
  assert.equal((await lab.ping(lab.server, '10.1.1.2')).code, 0);
});

test('a slow or failed handshake does not disturb the live session', { timeout: 90_000 }, async (t) => {
  const lab = await Lab.create(2);
  t.after(() => lab.destroy());
  const [nsA, nsB] = lab.clients as [string, string];
  const { server, client: clientA } = await lab.tunnel(PSK);
  // An intruder with the wrong key keeps retrying from the other side while A pings.
  const intruder = lab.ttun(nsB, ['client', '-k', 'wrong', '-s', lab.serverAddress(1)]);
  const pings = lab.exec(nsA, ['ping', '-c', '20', '-i', '0.2', '10.1.1.1'], 30_000);
  await server.waitForEvent('rejected', (e) => e.reason === 'auth');
  const result = await pings;
  assert.match(result.stdout, /20 packets transmitted, 20 received, 0% packet loss/);
  assert.deepEqual(clientA.events('down'), [], clientA.output);
  intruder.kill();
});

test('Ctrl-C (SIGINT) and SIGTERM remove the TUN devices and exit 0', { timeout: 60_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const ns = lab.clients[0]!;
  const { server, client } = await lab.tunnel(PSK);
  assert.ok((await lab.links(lab.server)).includes('ttun0'));
  assert.ok((await lab.links(ns)).includes('ttun0'));

  client.kill('SIGINT');
  assert.deepEqual(await client.exited, { code: 0, signal: null });
  assert.ok(!(await lab.links(ns)).includes('ttun0'), 'client TUN removed');
  server.kill('SIGTERM');
  assert.deepEqual(await server.exited, { code: 0, signal: null });
  assert.ok(!(await lab.links(lab.server)).includes('ttun0'), 'server TUN removed');
});
