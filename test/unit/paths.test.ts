// Which carrier a session's connection gets: the native threads where Node has an fd for the
// socket, the JS event loop where it has none (Windows) or when asked for. Real loopback TCP
// sockets; no TUN needed. Also run under wine (scripts/test-platforms.sh), where sockets have no fd.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { chooseCarrier, parseDataPath } from '../../ts/paths.js';
import { socketFd } from '../../ts/socket-options.js';

/** A connected loopback pair: `ours` is the side a session would be attached to. */
async function connectedPair(): Promise<{ ours: net.Socket; theirs: net.Socket; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection');
  const ours = net.connect(port, '127.0.0.1');
  await once(ours, 'connect');
  const [theirs] = (await accepted) as [net.Socket];
  return {
    ours,
    theirs,
    close: () => {
      ours.destroy();
      theirs.destroy();
      server.close();
    },
  };
}

test('a TCP socket goes to the native threads where Node has its fd, else through the event loop', async () => {
  const { ours, close } = await connectedPair();
  try {
    const fd = socketFd(ours);
    const carrier = chooseCarrier(ours, Buffer.from('leftover'), 'auto');
    if (process.platform === 'win32') {
      // Node on Windows keeps no fd for a socket: the event loop is the only way.
      assert.equal(fd, undefined);
      assert.deepEqual(carrier, { kind: 'event-loop' });
    } else {
      assert.equal(typeof fd, 'number');
      assert.equal(carrier.kind, 'native');
      assert.ok(carrier.kind === 'native' && carrier.fd === fd);
      // The handshake's leftover comes first; Node stopped reading, so nothing is lost after it.
      assert.ok(carrier.kind === 'native' && carrier.leftover.subarray(0, 8).equals(Buffer.from('leftover')));
    }
  } finally {
    close();
  }
});

test('a socket without an OS handle goes through the event loop', () => {
  const socket = new net.Socket();
  assert.equal(socketFd(socket), undefined);
  assert.deepEqual(chooseCarrier(socket, Buffer.alloc(0), 'auto'), { kind: 'event-loop' });
  socket.destroy();
});

test("dataPath 'event-loop' keeps a socket with an fd in Node, still reading", async () => {
  const { ours, theirs, close } = await connectedPair();
  try {
    assert.deepEqual(chooseCarrier(ours, Buffer.alloc(0), 'event-loop'), { kind: 'event-loop' });
    const data = once(ours, 'data');
    theirs.write('still read by Node');
    assert.equal(String((await data)[0]), 'still read by Node');
  } finally {
    close();
  }
});

test('dataPath takes auto (the default) or event-loop, and nothing else', () => {
  assert.equal(parseDataPath(undefined), 'auto');
  assert.equal(parseDataPath('auto'), 'auto');
  assert.equal(parseDataPath('event-loop'), 'event-loop');
  assert.throws(() => parseDataPath('js'), { code: 'EBADOPTION', message: /bad dataPath "js": use auto or event-loop/ });
  assert.throws(() => parseDataPath(1), { code: 'EBADOPTION' });
});
