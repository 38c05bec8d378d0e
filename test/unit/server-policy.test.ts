// The server's admission policy and the options that set it, over loopback in userspace mode
// (tun: false, no root): pending handshakes bounded per source and in total, the silent phase's
// own deadline, the client's failure wording by phase, option validation, accept errors.
// Loopback is 127.0.0.0/8: a socket bound to 127.0.0.2 is a second source on the same machine.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { sourceOf } from '../../ts/config.js';
import { TtunError } from '../../ts/errors.js';
import { connect, createServer, type ServerOptions, type TtunClient, type TtunServer } from '../../ts/index.js';
import { loadCore } from '../../ts/native.js';
import { Direction, MAGIC } from '../../ts/protocol.js';
import { SocketReader } from '../../ts/socket-reader.js';

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
  assert.equal(sourceOf('192.0.2.7'), '192.0.2.7');
  assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(sourceOf('::ffff:c000:207'), '192.0.2.7');
  assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), sourceOf('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  assert.equal(sourceOf('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'));
  assert.equal(sourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
});

test('connections from one address evict only their own; a handshake from another source completes', { timeout: 30_000 }, async () => {
  const server = await policyServer();
  const log = rejections(server);
  const sockets: net.Socket[] = [];
  try {
    const { port } = server.address();
    // The other source: a scripted client that sends its nonce, takes the server's, and holds
    // its authentication frame back until the flood has been admitted.
    const core = loadCore();
    const other = await open(port, '127.0.0.2');
    sockets.push(other);
    const reader = new SocketReader(other);
    const clientNonce = randomBytes(16);
    other.write(clientNonce);
    const serverNonce = await reader.read(16);

    // Ten silent connections from 127.0.0.1. A newcomer's evictions are reported before its
    // 'connection', so once the server has seen all ten, every eviction has been reported.
    const admitted = connections(server, 10);
    for (let i = 0; i < 10; i++) sockets.push(await open(port, '127.0.0.1'));
    await admitted;
    const evictions = log.seen.filter((r) => r.reason === 'busy');
    assert.ok(!log.seen.some(fromSource('127.0.0.2')), JSON.stringify(log.seen));
    assert.equal(evictions.length, 8);
    for (const r of evictions) assert.match(r.message, /already pending from 127\.0\.0\.1/);
    assert.equal(server.pendingHandshakes, 3);

    // Still pending, so it completes: the flood from another address could not push it out.
    const up = once(server, 'up');
    const sessionKey = core.sessionKey(core.pskKey(Buffer.from(PSK)), clientNonce, serverNonce);
    other.write(core.sealFrame('chacha20-poly1305', sessionKey, Direction.ClientToServer, 0, MAGIC));
    const failed = log.next(fromSource('127.0.0.2')).then((r) => assert.fail(`the other source was rejected: ${r.message}`));
    const [peer] = (await Promise.race([up, failed])) as [string];
    assert.match(peer, /^127\.0\.0\.2:/);
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
