// Run inside a fresh network namespace: checks, in one process, that close() removes the TUN
// device at once (not at garbage collection), so the next device gets ttun0 again. Prints one
// line per step ("ok <step>") and fails loudly otherwise. It ends without process.exit(): once
// everything is closed nothing may keep Node's event loop alive, which the caller checks by
// waiting for the process to exit on its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type DataPath, openTun } from '../../../ts/index.js';

const PSK = 'close-device test key';
/** Who carries the sessions' connections (argument 1): auto (the native threads) or event-loop. */
const dataPath = (process.argv[2] ?? 'auto') as DataPath;

function tunLinks(): string[] {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(': ')[1]!.split('@')[0]!)
    .filter((n) => n.startsWith('ttun'));
}

function step(name: string): void {
  process.stdout.write(`ok ${name}\n`);
}

// A server alone, twice: the second one must get the name (and addresses) the first gave back.
for (const round of [1, 2]) {
  const server = await createServer({ psk: PSK, dataPath, listen: '127.0.0.1:0' });
  assert.equal(server.tun?.name, 'ttun0', `round ${round}`);
  assert.deepEqual(tunLinks(), ['ttun0']);
  await server.close();
  assert.deepEqual(tunLinks(), [], `round ${round}: the device outlived server.close()`);
  step(`server round ${round}`);
}

// A client alone (no server to reach: it keeps retrying), closed while it waits.
{
  const client = await connect({ psk: PSK, dataPath, server: '127.0.0.1:9' });
  assert.equal(client.tun?.name, 'ttun0');
  await client.close();
  assert.deepEqual(tunLinks(), [], 'the device outlived client.close()');
  step('client');
}

// The packet API, with a reader waiting: close() ends its iteration and removes the device.
for (const round of [1, 2]) {
  const tun = openTun({ role: 'client' });
  assert.equal(tun.info.name, 'ttun0', `round ${round}`);
  const reading = (async () => {
    let count = 0;
    for await (const _ of tun.packets()) count += 1;
    return count;
  })();
  tun.close();
  assert.deepEqual(tunLinks(), [], `round ${round}: the device outlived tun.close()`);
  await reading;
  step(`openTun round ${round}`);
}

// A live session in both directions (server ttun0, client ttun1 in this one namespace), then
// both closed: every thread of both data paths must stop and both devices go.
{
  const server = await createServer({ psk: PSK, dataPath, listen: '127.0.0.1:0' });
  const client = await connect({ psk: PSK, dataPath, server: `127.0.0.1:${server.address().port}` });
  await Promise.all([once(server, 'up'), once(client, 'up')]);
  assert.deepEqual(tunLinks().sort(), ['ttun0', 'ttun1']);
  await server.close();
  await client.close();
  assert.deepEqual(tunLinks(), [], 'a device outlived close() with a live session');
  const again = await createServer({ psk: PSK, dataPath, listen: '127.0.0.1:0' });
  assert.equal(again.tun?.name, 'ttun0');
  assert.equal(again.tun?.ipv4, '10.1.1.1/30');
  await again.close();
  assert.deepEqual(tunLinks(), []);
  step('live session');
}
step('done');
