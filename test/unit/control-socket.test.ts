// The control socket on its own: one JSON answer per connection and nothing read, mode 0600, a stale
// socket replaced, a live one never taken over, and its bound: readers that never finish are cut off,
// after which a reader is answered again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlSocket, findControlSockets, readControlSocket } from '../../ts/observability/control-socket.js';
import { TtunError } from '../../ts/shared/errors.js';
import { CONTROL_MAX_CONNECTIONS, CONTROL_TIMEOUT_MS } from '../../ts/shared/tunables.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ttun-control-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('answers each connection with the document and closes; 0600; found by its TUN name; removed on close', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'tc0.sock');
  let asked = 0;
  const control = await ControlSocket.open(path, () => JSON.stringify({ asked: ++asked }), assert.fail);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(await readControlSocket(path), { ok: true, text: '{"asked":1}\n' });
  assert.deepEqual(await readControlSocket(path), { ok: true, text: '{"asked":2}\n' });
  assert.deepEqual(findControlSockets(undefined, dir), [{ path, dev: 'tc0', place: undefined }]);
  assert.deepEqual(findControlSockets('other', dir), []);
  control.close();
  const gone = await readControlSocket(path);
  assert.equal(gone.ok, false);
  assert.deepEqual(findControlSockets(undefined, dir), []);
});

test('a stale socket (nobody answers) is replaced; a live one is not taken over', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'tc1.sock');
  // A socket file whose listener is gone, as a killed instance leaves it (close the fd without unlinking).
  const stale = net.createServer();
  await new Promise<void>((resolve) => stale.listen(path, resolve));
  (stale as unknown as { _handle: { close(): void } })._handle.close();
  assert.equal((await readControlSocket(path)).ok, false);
  const control = await ControlSocket.open(path, () => '"new"', assert.fail);
  t.after(() => control.close());
  assert.deepEqual(await readControlSocket(path), { ok: true, text: '"new"\n' });
  await assert.rejects(
    ControlSocket.open(path, () => '"second"', assert.fail),
    (err: unknown) => err instanceof TtunError && err.code === 'EADDRINUSE' && err.message.includes(path),
  );
  assert.deepEqual(await readControlSocket(path), { ok: true, text: '"new"\n' }, 'the first instance still answers');
});

test(`readers that never finish hold at most ${CONTROL_MAX_CONNECTIONS} connections, for ${CONTROL_TIMEOUT_MS} ms`, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'tc2.sock');
  const control = await ControlSocket.open(path, () => '"ok"', assert.fail);
  t.after(() => control.close());
  // Connections that read nothing and never close their side.
  const holders = Array.from({ length: CONTROL_MAX_CONNECTIONS * 4 }, () => {
    const socket = net.connect({ path, allowHalfOpen: true });
    socket.pause();
    socket.on('error', () => {});
    return socket;
  });
  t.after(() => {
    for (const socket of holders) socket.destroy();
  });
  await Promise.all(holders.map((socket) => new Promise((resolve) => socket.once('connect', resolve))));
  // The first holders fill the listener (the rest are turned away); without the timeout they would hold it
  // for ever. A reader is answered once they are cut off (allowing for a loaded machine).
  const started = Date.now();
  let answer = await readControlSocket(path);
  while (!(answer.ok && answer.text === '"ok"\n') && Date.now() - started < CONTROL_TIMEOUT_MS * 5) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    answer = await readControlSocket(path);
  }
  assert.deepEqual(answer, { ok: true, text: '"ok"\n' });
});
