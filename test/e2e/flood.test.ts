// Floods that outlast the pending-handshake bounds, with the real CLI in namespaces: a steady
// stream of silent connections from one address must not lock out a real client on a slow path,
// nor cost the live session a ping; and running out of file descriptors loses connections, not
// the server.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, type NsProcess, run, TOOLS, until } from './harness.js';

const PSK = 'e2e test key: floods';

const alive = (proc: NsProcess) => {
  try {
    process.kill(proc.pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a steady flood of silent connections from one address: a client on a 40 ms path still gets in, the live session loses no ping', {
  timeout: 150_000,
}, async (t) => {
  const lab = await Lab.create(3);
  t.after(() => lab.destroy());
  // The live session: clients[0], up before the flood.
  const { server, client: live } = await lab.tunnel(PSK);

  // The attacker: clients[1], one address, ~2000 silent connections a second for 30 s.
  const [floodHost, floodPort] = lab.serverAddress(1).split(':') as [string, string];
  const flood = lab.spawn(lab.clients[1]!, [process.execPath, join(TOOLS, 'flood.js'), floodHost, floodPort, '2000', '30']);
  await flood.waitForLine(/^started/);
  // The flood is being admitted and evicted: its address is over its bound.
  await server.waitForEvent('rejected', (e) => e.reason === 'busy');

  // Ten seconds of pings over the live session while the flood runs: none lost.
  const pings = await lab.exec(lab.clients[0]!, ['ping', '-c', '100', '-i', '0.1', '-W', '2', '10.1.1.1'], 60_000);
  assert.match(pings.stdout, /100 packets transmitted, 100 received, 0% packet loss/, pings.stdout);
  assert.equal(live.events('down').length, 0, live.output);
  // Stop the live client, so the newcomer's session is not taken back from it.
  live.kill('SIGTERM');
  await live.exited;

  // The newcomer: clients[2], through a relay in its own namespace that delays each chunk 40 ms
  // each way (the server sees it come from 10.200.2.2).
  const [serverHost, serverPort] = lab.serverAddress(2).split(':') as [string, string];
  const relay = lab.spawn(lab.clients[2]!, [process.execPath, join(TOOLS, 'relay.js'), '127.0.0.1', '20300', serverHost, serverPort, '40']);
  await relay.waitForLine(/^listening/);
  assert.ok(!flood.lines.some((l) => l.startsWith('done')), 'the flood is still running');
  const startedAt = Date.now();
  const newcomer = lab.ttun(lab.clients[2]!, ['client', '-k', PSK, '-s', '127.0.0.1:20300']);
  await newcomer.waitForEvent('up', () => true, { timeoutMs: 12_000 });
  const tookMs = Date.now() - startedAt;
  assert.ok(!flood.lines.some((l) => l.startsWith('done')), `the flood ended before the client got in:\n${flood.output}`);
  assert.ok(tookMs < 12_000, `session up after ${tookMs} ms`);
  await server.waitForEvent('up', (e) => String(e.peer).startsWith('10.200.2.2:'));
  await lab.waitForPing(lab.clients[2]!, '10.1.1.1');

  // What the flood reached, for the record.
  const rates = flood.lines.filter((l) => l.startsWith('rate ')).map((l) => Number(l.split(' ')[1]));
  t.diagnostic(`flood: ${rates.join(', ')} connections/s; client up after ${tookMs} ms`);
  assert.ok(rates.some((r) => r > 0));
  // The flood's evictions say whose they were; none of them is another source's handshake.
  const evictions = server.events('rejected').filter((e) => e.reason === 'busy');
  assert.ok(evictions.length > 0);
  assert.ok(
    evictions.every((e) => String(e.peer).startsWith('10.200.1.2:')),
    JSON.stringify(evictions.filter((e) => !String(e.peer).startsWith('10.200.1.2:'))),
  );
  assert.ok(alive(server), 'the server is still running');
});

/** The descriptor numbers a process has open. */
function openFds(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

/** The lowest descriptor number not in use, at or above `from`. */
function lowestFree(fds: number[], from = 0): number {
  const used = new Set(fds);
  let n = from;
  while (used.has(n)) n += 1;
  return n;
}

async function prlimitNofile(pid: number, n: number): Promise<void> {
  const result = await run('prlimit', ['--pid', String(pid), `--nofile=${n}:`]);
  assert.equal(result.code, 0, result.stderr);
}

test('out of file descriptors: an authenticated connection that cannot be attached is rejected, a flood is survived, a client gets in after', {
  timeout: 150_000,
}, async (t) => {
  const lab = await Lab.create(2);
  t.after(() => lab.destroy());
  const server = lab.ttun(lab.server, ['server', '-k', PSK]);
  await server.waitForEvent('listening');
  // Its control socket too (opened after that line): the descriptors counted below must be all it keeps.
  // (Its file is there once it is bound; connecting to it would add a descriptor of its own for a moment.)
  await until('the control socket', () => existsSync(`/run/ttun/netns-${lab.server}/ttun0.sock`));
  let exited = false;
  void server.exited.then(() => (exited = true));

  // Room for exactly one more descriptor: the accepted connection gets it, and the session's own
  // copy of it (the data path dups the fd) cannot be had. RLIMIT_NOFILE bounds descriptor numbers.
  const fds = openFds(server.pid);
  const first = lowestFree(fds);
  await prlimitNofile(server.pid, lowestFree(fds, first + 1));
  const starved = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(0)]);
  const died = server.exited.then(() => assert.fail(`the server exited:\n${server.output}`));
  died.catch(() => {}); // it is killed at teardown too: only the race below cares
  const rejected = await Promise.race([server.waitForEvent('rejected', (e) => e.reason === 'attach', { timeoutMs: 20_000 }), died]);
  assert.match(String(rejected.detail), /EMFILE|Too many open files|descriptor/i, rejected.message);
  starved.kill('SIGTERM');
  await starved.exited;
  assert.ok(!exited, `the server exited:\n${server.output}`);

  // A few descriptors of room, then a flood of silent connections that wants far more.
  await prlimitNofile(server.pid, Math.max(...openFds(server.pid)) + 6);
  const [host, port] = lab.serverAddress(1).split(':') as [string, string];
  const flood = lab.spawn(lab.clients[1]!, [process.execPath, join(TOOLS, 'flood.js'), host, port, '1000', '5']);
  await flood.waitForLine(/^done/, 30_000);
  flood.kill('SIGKILL');
  await flood.exited;
  assert.ok(!exited, `the server exited during the flood:\n${server.output}`);

  // Once the flood is over, a correct client is served (its backoff starts at 1 s).
  const mark = server.lines.length;
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(0)]);
  await client.waitForEvent('up', () => true, { timeoutMs: 30_000 });
  await server.waitForEvent('up', () => true, { timeoutMs: 15_000, from: mark });
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
  assert.ok(!exited && server.events('fatal').length === 0, server.output);
});

test('a client out of file descriptors: the failed attach is logged, the client keeps retrying and gets in once it has room', {
  timeout: 120_000,
}, async (t) => {
  const lab = await Lab.create(1);
  t.after(() => lab.destroy());
  // The client first, with no server yet: it is connecting and retrying, and its descriptors are settled.
  const client = lab.ttun(lab.clients[0]!, ['client', '-k', PSK, '-s', lab.serverAddress(0)]);
  await client.waitForEvent('reconnecting');
  const died = client.exited.then(() => assert.fail(`the client exited:\n${client.output}`));
  died.catch(() => {}); // it is killed at teardown too: only the races below care
  // Room for the connection's socket, not for the data path's copy of it.
  const fds = openFds(client.pid);
  await prlimitNofile(client.pid, lowestFree(fds, lowestFree(fds) + 1));
  const server = lab.ttun(lab.server, ['server', '-k', PSK]);
  await server.waitForEvent('listening');
  const failed = await Promise.race([client.waitForEvent('failed', (e) => e.reason === 'attach', { timeoutMs: 60_000 }), died]);
  assert.match(String(failed.detail), /Too many open files|EMFILE/i, failed.message);
  // Room again: the next attempt gets in.
  await prlimitNofile(client.pid, 1024);
  await Promise.race([client.waitForEvent('up', () => true, { timeoutMs: 60_000 }), died]);
  await lab.waitForPing(lab.clients[0]!, '10.1.1.1');
});
