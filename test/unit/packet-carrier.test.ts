// Who reads and writes a session's connection: the native threads where Node has an fd for the
// socket, the JS event loop where it has none (Windows) or when asked for. Real loopback TCP
// sockets; no TUN needed. Also run under wine (scripts/test-platforms.sh), where sockets have no fd.
// And the userspace carrier's flow control: a slow reader of packets() pauses the session's socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { loadCore } from '../../ts/core/native.js';
import { Direction } from '../../ts/core/protocol.js';
import { chooseSocketOwner, UserspaceCarrier } from '../../ts/datapath/packet-carrier.js';
import type { SessionEnd } from '../../ts/datapath/session-end.js';
import { socketFd } from '../../ts/network/socket-options.js';
import { parseDataPath } from '../../ts/options/values.js';
import { PACKET_QUEUE_HIGH, PACKET_QUEUE_LOW } from '../../ts/shared/tunables.js';
import { ipv4Packet, take } from './tools/userspace.js';

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
    const owner = chooseSocketOwner(ours, Buffer.from('leftover'), 'auto');
    if (process.platform === 'win32') {
      // Node on Windows keeps no fd for a socket: the event loop is the only way.
      assert.equal(fd, undefined);
      assert.deepEqual(owner, { kind: 'event-loop' });
    } else {
      assert.equal(typeof fd, 'number');
      assert.equal(owner.kind, 'native');
      assert.ok(owner.kind === 'native' && owner.fd === fd);
      // The handshake's leftover comes first; Node stopped reading, so nothing is lost after it.
      assert.ok(owner.kind === 'native' && owner.leftover.subarray(0, 8).equals(Buffer.from('leftover')));
    }
  } finally {
    close();
  }
});

test('a socket without an OS handle goes through the event loop', () => {
  const socket = new net.Socket();
  assert.equal(socketFd(socket), undefined);
  assert.deepEqual(chooseSocketOwner(socket, Buffer.alloc(0), 'auto'), { kind: 'event-loop' });
  socket.destroy();
});

test("dataPath 'event-loop' keeps a socket with an fd in Node, still reading", async () => {
  const { ours, theirs, close } = await connectedPair();
  try {
    assert.deepEqual(chooseSocketOwner(ours, Buffer.alloc(0), 'event-loop'), { kind: 'event-loop' });
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
  assert.throws(() => parseDataPath('js'), { code: 'EBADOPTION', message: /^bad dataPath: use auto or event-loop$/ });
  assert.throws(() => parseDataPath(1), { code: 'EBADOPTION' });
});

/** Records pause() and resume() calls on `socket`, and resolves `paused` at the first pause. */
function watchFlow(socket: net.Socket) {
  const calls: string[] = [];
  let onPause!: () => void;
  const paused = new Promise<void>((resolve) => (onPause = resolve));
  const pause = socket.pause.bind(socket);
  const resume = socket.resume.bind(socket);
  socket.pause = () => {
    calls.push('pause');
    onPause();
    return pause();
  };
  socket.resume = () => {
    calls.push('resume');
    return resume();
  };
  return { calls, paused };
}

test('userspace: a reader that falls behind pauses the socket at the high mark and resumes it at the low mark; a new session starts paused', {
  timeout: 30_000,
}, async () => {
  const core = loadCore();
  const carrier = new UserspaceCarrier(core);
  const cipher = 'chacha20-poly1305';
  const ended: SessionEnd[] = [];
  /** A loopback connection, its sender's side sealing frames as a client with `key`. */
  const connection = async (key: Buffer) => {
    const pair = await connectedPair();
    const sealer = new core.FrameSealer(cipher, key, Direction.ClientToServer, 1);
    return { ...pair, key, flow: watchFlow(pair.ours), send: (packets: Buffer[]) => pair.theirs.write(sealer.seal(packets)) };
  };
  const attach = (c: { ours: net.Socket; key: Buffer }) =>
    carrier.attach(c.ours, { cipher, sessionKey: c.key, role: 'server', leftover: Buffer.alloc(0) }, (end) => ended.push(end));
  const first = await connection(Buffer.alloc(32, 1));
  const second = await connection(Buffer.alloc(32, 2));
  try {
    const firstSession = attach(first);
    first.send(Array.from({ length: PACKET_QUEUE_HIGH }, (_, i) => ipv4Packet(i, 40)));
    await first.flow.paused;
    assert.ok(first.ours.isPaused(), 'the queue reached the high mark: the socket is paused');
    firstSession.detach();

    // The peer reconnects while the reader is still behind: the new socket must not flood the queue.
    const secondSession = attach(second);
    assert.ok(second.ours.isPaused(), 'a session attached to a full queue starts paused');
    second.send([ipv4Packet(PACKET_QUEUE_HIGH, 40)]);

    const reader = carrier.packets();
    const toLow = PACKET_QUEUE_HIGH - PACKET_QUEUE_LOW;
    const early = await take(reader, toLow - 1);
    assert.ok(second.ours.isPaused(), 'still above the low mark: the socket stays paused');
    early.push(...(await take(reader, 1)));
    assert.ok(!second.ours.isPaused(), 'drained to the low mark: the live session is resumed');
    const rest = await take(reader, PACKET_QUEUE_LOW + 1);
    const numbers = [...early, ...rest].map((p) => p.readUInt32BE(28));
    assert.deepEqual(
      numbers,
      Array.from({ length: PACKET_QUEUE_HIGH + 1 }, (_, i) => i),
      'every packet, the old session first, in order',
    );
    assert.deepEqual(ended, []);
    assert.equal(carrier.stats().rxPackets, PACKET_QUEUE_HIGH + 1);
    secondSession.detach();
  } finally {
    carrier.close();
    first.close();
    second.close();
  }
});
