// The server's admission policy and the options that set it, over loopback in userspace mode
// (tun: false, no root): pending handshakes bounded per source and in total (who is evicted), the
// silent phase's own deadline, replacement of the live session by an authenticated newcomer only,
// the client's failure wording by phase, option validation, accept errors. Observed through the
// events API and userspace send()/packets(), never through log wording.
// Loopback is 127.0.0.0/8: a socket bound to 127.0.0.2 is a second source on the same machine.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { loadCore } from '../../ts/core/native.js';
import { Direction, MAGIC } from '../../ts/core/protocol.js';
import type { SessionEnd } from '../../ts/datapath/session-end.js';
import { connect, createServer, type ServerOptions, type TtunClient, type TtunServer } from '../../ts/index.js';
import { SocketReader } from '../../ts/network/socket-reader.js';
import { admissionSourceOf } from '../../ts/options/values.js';
import { TtunError } from '../../ts/shared/errors.js';
import { ipv4Packet, nextPacket, packetNumber } from './tools/packets.js';

const PSK = 'server policy test key';

type Rejection = { peer: string; reason: string; message: string };

/** Every 'rejected' event, and ways to wait for them. */
function rejections(server: TtunServer) {
  const seen: Rejection[] = [];
  const wakers: Array<() => void> = [];
  server.on('rejected', (peer: string, reason: string, message: string) => {
    seen.push({ peer, reason, message });
    for (const wake of wakers.splice(0)) wake();
  });
  /** Resolves once `count` rejections pass `match`. */
  const atLeast = async (count: number, match: (r: Rejection) => boolean): Promise<Rejection[]> => {
    for (;;) {
      const matching = seen.filter(match);
      if (matching.length >= count) return matching;
      await new Promise<void>((resolve) => wakers.push(resolve));
    }
  };
  return { seen, atLeast, next: async (match: (r: Rejection) => boolean) => (await atLeast(1, match))[0]! };
}

/** A connection from `localAddress`; resolves once connected. Writes nothing unless told. */
async function open(port: number, localAddress: string, first?: Buffer): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  if (first) socket.write(first);
  return socket;
}

/** Resolves once the server has reported `count` more connections. */
function connections(server: TtunServer, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen < count) return;
      server.off('connection', on);
      resolve();
    };
    server.on('connection', on);
  });
}

const fromSource = (address: string) => (r: Rejection) => r.peer.startsWith(`${address}:`);

/** How the server names the peer at the far end of `socket` (a loopback connection made here; read it while open). */
const localPeer = (socket: net.Socket) => `${socket.localAddress}:${socket.localPort}`;

/**
 * A scripted client from `localAddress` that sends its nonce and takes the server's, then holds its
 * authentication frame back until authenticate(): a handshake that stays pending until then.
 */
async function heldHandshake(port: number, localAddress: string) {
  const core = loadCore();
  const socket = await open(port, localAddress);
  const reader = new SocketReader(socket);
  const clientNonce = randomBytes(16);
  socket.write(clientNonce);
  const serverNonce = await reader.read(16);
  reader.detach();
  const sessionKey = core.sessionKey(core.pskKey(Buffer.from(PSK)), clientNonce, serverNonce);
  return {
    socket,
    peer: localPeer(socket),
    authenticate: () => socket.write(core.sealFrame('chacha20-poly1305', sessionKey, Direction.ClientToServer, 0, MAGIC)),
  };
}

/** A userspace server on loopback with bounds small enough to reach: 4 pending handshakes, 2 per source. */
function policyServer(options: Partial<ServerOptions> = {}): Promise<TtunServer> {
  return createServer({
    psk: PSK,
    listen: '127.0.0.1:0',
    tun: false,
    maxPendingHandshakes: 4,
    maxPendingHandshakesPerSource: 2,
    ...options,
  });
}

test('sources: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64', () => {
  assert.equal(admissionSourceOf('192.0.2.7'), '192.0.2.7');
  assert.equal(admissionSourceOf('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(admissionSourceOf('::ffff:c000:207'), '192.0.2.7');
  assert.equal(admissionSourceOf('2001:db8:1:2:aaaa::1'), admissionSourceOf('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.equal(admissionSourceOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.notEqual(admissionSourceOf('2001:db8:1:2::1'), admissionSourceOf('2001:db8:1:3::1'));
  assert.equal(admissionSourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
});

test('connections from one address evict only their own, oldest first; a handshake from another source completes', {
  timeout: 30_000,
}, async () => {
  const server = await policyServer();
  const log = rejections(server);
  const sockets: net.Socket[] = [];
  try {
    const { port } = server.address();
    // The other source holds its authentication frame back until the flood has been admitted.
    const other = await heldHandshake(port, '127.0.0.2');
    sockets.push(other.socket);

    // Ten silent connections from 127.0.0.1. A newcomer's evictions are reported before its
    // 'connection', so once the server has seen all ten, every eviction has been reported.
    const admitted = connections(server, 10);
    const flood: string[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = await open(port, '127.0.0.1');
      sockets.push(socket);
      flood.push(localPeer(socket));
    }
    await admitted;
    const evictions = log.seen.filter((r) => r.reason === 'busy');
    assert.ok(!log.seen.some(fromSource('127.0.0.2')), JSON.stringify(log.seen));
    // Each newcomer beyond the bound of 2 pushed out the flood's oldest: the first eight, in order.
    assert.deepEqual(
      evictions.map((r) => r.peer),
      flood.slice(0, 8),
    );
    for (const r of evictions) assert.match(r.message, /already pending from 127\.0\.0\.1/);
    assert.equal(server.pendingHandshakes, 3);

    // Still pending, so it completes: the flood from another address could not push it out.
    const up = once(server, 'up');
    other.authenticate();
    const failed = log.next(fromSource('127.0.0.2')).then((r) => assert.fail(`the other source was rejected: ${r.message}`));
    const [peer] = (await Promise.race([up, failed])) as [string];
    assert.equal(peer, other.peer);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test('when the total is full, the source holding the most loses its oldest', { timeout: 30_000 }, async () => {
  const server = await policyServer();
  const log = rejections(server);
  const sockets: net.Socket[] = [];
  try {
    const { port } = server.address();
    // 127.0.0.1 holds two (its bound), .2 and .3 one each: the total of 4 is reached, nobody
    // evicted. The oldest of all is 127.0.0.2's, so evicting by age alone would pick it.
    const four = connections(server, 4);
    for (const address of ['127.0.0.2', '127.0.0.1', '127.0.0.3', '127.0.0.1']) sockets.push(await open(port, address));
    await four;
    assert.equal(server.pendingHandshakes, 4);
    assert.equal(log.seen.length, 0);
    const oldestOfHeaviest = `127.0.0.1:${sockets[1]!.localPort}`;
    sockets.push(await open(port, '127.0.0.4'));
    const evicted = await log.next((r) => r.reason === 'busy');
    assert.equal(evicted.peer, oldestOfHeaviest);
    assert.match(evicted.message, /4 handshakes already in progress/);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test('among equally heavy sources, the one holding the oldest handshake loses it', { timeout: 30_000 }, async () => {
  const server = await policyServer();
  const log = rejections(server);
  const sockets: net.Socket[] = [];
  const peers: string[] = [];
  const openFrom = async (address: string) => {
    const socket = await open(server.address().port, address);
    sockets.push(socket);
    peers.push(localPeer(socket));
  };
  // The n-th eviction (from 1): it may be reported before or after the client side sees its connect.
  const eviction = async (n: number) => (await log.atLeast(n, (r) => r.reason === 'busy'))[n - 1]!;
  try {
    const four = connections(server, 4);
    for (const address of ['127.0.0.1', '127.0.0.2', '127.0.0.1', '127.0.0.2']) await openFrom(address);
    await four;
    // .1 and .2 hold two each: the tie goes against .1, whose handshake is the oldest.
    await openFrom('127.0.0.3');
    assert.equal((await eviction(1)).peer, peers[0]);
    // Now .2 is the heaviest, though .1 still holds an older handshake.
    await openFrom('127.0.0.4');
    assert.equal((await eviction(2)).peer, peers[1]);
    // One each: age decides, and .1's second is the oldest left.
    await openFrom('127.0.0.5');
    assert.equal((await eviction(3)).peer, peers[2]);
    assert.equal(server.pendingHandshakes, 4);
    assert.ok(
      log.seen.every((r) => r.reason === 'busy'),
      JSON.stringify(log.seen),
    );
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

/** Every ('down', peer, end) an endpoint reports. */
function downs(endpoint: TtunServer | TtunClient): Array<{ peer: string; end: SessionEnd }> {
  const seen: Array<{ peer: string; end: SessionEnd }> = [];
  endpoint.on('down', (peer, end) => seen.push({ peer, end }));
  return seen;
}

/** Makes a client close instead of reconnecting once its session has ended (it would take the session back). */
function closeInsteadOfReconnecting(client: TtunClient): Promise<void> {
  return once(client, 'reconnecting').then(() => client.close());
}

test('a second authenticated client takes the session over: the first goes down, packets flow on the second only', {
  timeout: 30_000,
}, async () => {
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
  const address = `127.0.0.1:${server.address().port}`;
  const serverDowns = downs(server);
  const first = await connect({ psk: PSK, server: address, tun: false });
  let second: TtunClient | undefined;
  try {
    const [[firstPeer]] = (await Promise.all([once(server, 'up'), once(first, 'up')])) as [[string], unknown];
    const atServer = server.packets();
    const atFirst = first.packets();
    server.send(ipv4Packet(1));
    assert.equal(packetNumber(await nextPacket(atFirst)), 1);

    const firstClosed = closeInsteadOfReconnecting(first);
    const firstDown = once(first, 'down');
    const secondUpAtServer = once(server, 'up');
    second = await connect({ psk: PSK, server: address, tun: false });
    const [[secondPeer]] = (await Promise.all([secondUpAtServer, once(second, 'up'), firstDown])) as [[string], unknown, unknown];
    assert.notEqual(secondPeer, firstPeer);
    assert.equal(server.peer, secondPeer);
    await firstClosed;

    // The server's packets go to the second client; the first, closed, never got another one.
    const atSecond = second.packets();
    assert.equal(server.send(ipv4Packet(2)), 'sent');
    assert.equal(packetNumber(await nextPacket(atSecond)), 2);
    const leftAtFirst: Buffer[] = [];
    for await (const packet of atFirst) leftAtFirst.push(packet);
    assert.deepEqual(leftAtFirst, []);
    // And the second's reach the server.
    second.send(ipv4Packet(3));
    assert.equal(packetNumber(await nextPacket(atServer)), 3);

    assert.deepEqual(serverDowns, [{ peer: firstPeer, end: { kind: 'replaced', detail: secondPeer } }]);
    assert.equal(server.stats().sessions, 2);
  } finally {
    await first.close();
    await second?.close();
    await server.close();
  }
});

test('connections that never authenticate leave the live session alone; a newcomer takes over only once its frame checks out', {
  timeout: 30_000,
}, async () => {
  const server = await policyServer({ maxPendingHandshakes: 8, nonceTimeoutMs: 300 });
  const { port } = server.address();
  const log = rejections(server);
  const serverDowns = downs(server);
  const client = await connect({ psk: PSK, server: `127.0.0.1:${port}`, tun: false });
  const clientDowns = downs(client);
  const sockets: net.Socket[] = [];
  let stranger: TtunClient | undefined;
  try {
    const [[livePeer]] = (await Promise.all([once(server, 'up'), once(client, 'up')])) as [[string], unknown];
    const atServer = server.packets();
    const atClient = client.packets();

    // A newcomer halfway through its handshake: it got the server's nonce, its frame is held back.
    const newcomer = await heldHandshake(port, '127.0.0.6');
    sockets.push(newcomer.socket);
    // Silent: closed at the nonce deadline.
    sockets.push(await open(port, '127.0.0.3'));
    // A nonce, then a frame length no v1 peer sends.
    sockets.push(await open(port, '127.0.0.4', Buffer.concat([randomBytes(16), Buffer.from([0, 5, 1, 2, 3, 4, 5])])));
    // A nonce, then gone.
    const quitter = await open(port, '127.0.0.5', randomBytes(16));
    sockets.push(quitter);
    quitter.end();
    // A flood of six from one address: four evicted by the bound of 2 per source, two time out.
    for (let i = 0; i < 6; i++) sockets.push(await open(port, '127.0.0.2'));
    // A real client with another key (from the live client's own address).
    stranger = await connect({ psk: 'not the key', server: `127.0.0.1:${port}`, tun: false });
    void closeInsteadOfReconnecting(stranger);

    const expected: Array<[string, string, number]> = [
      ['127.0.0.3', 'timeout', 1],
      ['127.0.0.4', 'bad-frame', 1],
      ['127.0.0.5', 'closed', 1],
      ['127.0.0.2', 'busy', 4],
      ['127.0.0.2', 'timeout', 2],
      ['127.0.0.1', 'auth', 1],
    ];
    for (const [address, reason, count] of expected) {
      await log.atLeast(count, (r) => fromSource(address)(r) && r.reason === reason);
    }
    assert.equal(log.seen.length, 10, JSON.stringify(log.seen));

    // The session never noticed: same peer, no 'down' on either side, packets both ways.
    assert.deepEqual(serverDowns, []);
    assert.deepEqual(clientDowns, []);
    assert.equal(server.peer, livePeer);
    assert.ok(client.connected);
    server.send(ipv4Packet(10));
    assert.equal(packetNumber(await nextPacket(atClient)), 10);
    client.send(ipv4Packet(11));
    assert.equal(packetNumber(await nextPacket(atServer)), 11);
    assert.equal(server.stats().sessions, 1);
    assert.equal(server.pendingHandshakes, 1);

    // Its frame verified, the newcomer replaces the session.
    const clientDown = once(client, 'down');
    const up = once(server, 'up');
    newcomer.authenticate();
    const [[newPeer]] = (await Promise.all([up, clientDown])) as [[string], unknown];
    assert.equal(newPeer, newcomer.peer);
    assert.deepEqual(serverDowns, [{ peer: livePeer, end: { kind: 'replaced', detail: newcomer.peer } }]);
  } finally {
    for (const s of sockets) s.destroy();
    await stranger?.close();
    await client.close();
    await server.close();
  }
});

test('a connection that stays silent is closed at the nonce deadline; one that sent its nonce gets the whole handshake deadline', {
  timeout: 30_000,
}, async () => {
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false, nonceTimeoutMs: 200, handshakeTimeoutMs: 4000 });
  const log = rejections(server);
  const sockets: net.Socket[] = [];
  try {
    const { port } = server.address();
    const talker = await open(port, '127.0.0.2', randomBytes(16));
    sockets.push(talker);
    const started = Date.now();
    const silent = await open(port, '127.0.0.1');
    sockets.push(silent);
    const silentRejected = await log.next(fromSource('127.0.0.1'));
    const silentMs = Date.now() - started;
    assert.equal(silentRejected.reason, 'timeout');
    assert.match(silentRejected.message, /no client nonce within 0\.2 s/);
    // Well short of the handshake deadline (generous: the machine may be busy).
    assert.ok(silentMs < 3000, `silent connection closed after ${silentMs} ms`);
    const talkerRejected = await log.next(fromSource('127.0.0.2'));
    assert.equal(talkerRejected.reason, 'timeout');
    assert.match(talkerRejected.message, /handshake timed out after 4 s waiting for the client's authentication frame/);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test("the client's failure says how far it got: a close before the server's nonce is not blamed on the key", {
  timeout: 30_000,
}, async () => {
  // A server that closes every connection on its first bytes, as a busy ttun server evicting it would.
  const closer = net.createServer((s) => s.once('data', () => s.destroy()));
  closer.listen(0, '127.0.0.1');
  await once(closer, 'listening');
  const client = await connect({ psk: PSK, server: `127.0.0.1:${(closer.address() as net.AddressInfo).port}`, tun: false });
  try {
    const [reason, message] = (await once(client, 'failed')) as [string, string];
    assert.equal(reason, 'closed');
    assert.match(message, /before sending its nonce/);
    assert.match(message, /evicted|timed out/);
    assert.doesNotMatch(message, /PSK|cipher/);
  } finally {
    await client.close();
    closer.close();
  }
});

test("the client's failure after its authentication frame names the key as the likely cause", { timeout: 30_000 }, async () => {
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
  const client = await connect({ psk: 'another key', server: `127.0.0.1:${server.address().port}`, tun: false });
  try {
    const [reason, message] = (await once(client, 'failed')) as [string, string];
    assert.equal(reason, 'closed');
    assert.match(message, /after our authentication frame \(wrong PSK or cipher\?\)/);
  } finally {
    await client.close();
    await server.close();
  }
});

const badOption = (name: string) => (err: unknown) =>
  err instanceof TtunError && err.code === 'EBADOPTION' && !err.message.includes('\n') && err.message.includes(name);

test('server options are validated: one-line TtunErrors, nothing created', async () => {
  const base = { psk: PSK, listen: '127.0.0.1:0', tun: false } as const;
  const cases: Array<[string, unknown[]]> = [
    ['maxPendingHandshakes', [0, -1, 1.5, NaN, Infinity, '4', null]],
    ['maxPendingHandshakesPerSource', [0, -3, 2.5, '2', 65]],
    ['nonceTimeoutMs', [0, -1, NaN, Infinity, '100', 2 ** 31]],
    ['handshakeTimeoutMs', [0, -5, NaN, Infinity, '10000']],
    ['mptcp', ['yes', 1]],
    ['tun', ['no', 0]],
  ];
  for (const [name, values] of cases) {
    for (const value of values) {
      await assert.rejects(createServer({ ...base, [name]: value } as never), badOption(name), `${name}: ${String(value)}`);
    }
  }
  await assert.rejects(createServer(undefined as never), (err: unknown) => err instanceof TtunError && err.code === 'EBADOPTION');
  // The smallest sane values work.
  const server = await createServer({
    ...base,
    maxPendingHandshakes: 1,
    maxPendingHandshakesPerSource: 1,
    nonceTimeoutMs: 1,
    handshakeTimeoutMs: 1,
  });
  await server.close();
  // The per-source default follows a smaller total instead of refusing it.
  const small = await createServer({ ...base, maxPendingHandshakes: 2 });
  await small.close();
});

test('client options are validated too', async () => {
  const base = { psk: PSK, server: '127.0.0.1:1', tun: false } as const;
  for (const value of [0, -1, NaN, '5']) {
    await assert.rejects(connect({ ...base, handshakeTimeoutMs: value } as never), badOption('handshakeTimeoutMs'), String(value));
  }
  await assert.rejects(connect({ ...base, mptcp: 'true' } as never), badOption('mptcp'));
  await assert.rejects(connect(null as never), (err: unknown) => err instanceof TtunError && err.code === 'EBADOPTION');
});

test('a temporary accept error is reported and the server keeps serving', { timeout: 30_000 }, async () => {
  // Simulated on the listener: libuv absorbs EMFILE itself (a reserve descriptor lets it accept and
  // close the waiting connections), so what reaches the listener are the errors it cannot absorb,
  // which a test cannot make the kernel produce on demand. The e2e fd-limit test covers the real thing.
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
  let client: TtunClient | undefined;
  try {
    const reported = once(server, 'accept-error');
    const died = once(server, 'fatal').then(([message]) => assert.fail(`fatal: ${String(message)}`));
    const listener = (server as unknown as { listener: net.Server }).listener;
    listener.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', syscall: 'accept' }));
    const [code] = (await Promise.race([reported, died])) as [string];
    assert.equal(code, 'ENFILE');
    client = await connect({ psk: PSK, server: `127.0.0.1:${server.address().port}`, tun: false });
    await Promise.race([once(client, 'up'), died]);
  } finally {
    await client?.close();
    await server.close();
  }
});
