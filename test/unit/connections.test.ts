/**
 * connections.ts without root: listener and connect over loopback, the real addon's MPTCP where
 * this kernel has it, and the fall-back to TCP by error code. A kernel without MPTCP cannot be had
 * without root, so for that one answer the addon's mptcpConnect/mptcpListen are replaced by
 * functions that throw what such a kernel makes the addon throw (EPROTONOSUPPORT).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadNative, type NativeBinding } from '../../ts/core/native.js';
import { Connections } from '../../ts/network/connections.js';
import { ProxyError, parseProxyUrl } from '../../ts/network/proxy.js';
import { TtunError } from '../../ts/shared/errors.js';

const native = loadNative();
const kernelHasMptcp = readFileSync('/proc/sys/net/mptcp/enabled', 'utf8').trim() === '1';
const loopback = (port: number) => ({ host: '127.0.0.1', port });

/** What the addon throws where the kernel has no MPTCP. */
function noMptcp(): never {
  throw Object.assign(new Error('MPTCP is not available in this kernel'), { code: 'EPROTONOSUPPORT' });
}

/** The real addon, but with `mptcpConnect` and `mptcpListen` answering as on a kernel without MPTCP; counts the calls. */
function addonWithoutMptcp() {
  const calls = { connect: 0, listen: 0 };
  const binding = {
    ...native,
    mptcpConnect: async () => {
      calls.connect += 1;
      return noMptcp();
    },
    mptcpListen: () => {
      calls.listen += 1;
      return noMptcp();
    },
  } as NativeBinding;
  return { binding, calls };
}

async function tcpServer(onSocket: (socket: net.Socket) => void = () => {}) {
  const server = net.createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const { server, port } = await tcpServer();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const noDegraded = (message: string) => assert.fail(`unexpected degraded: ${message}`);

/** A listener on a free loopback port that collects what it accepts and fails the test on any error. */
async function listenAccepting(connections: Connections): Promise<{ accepted: net.Socket[]; listener: net.Server }> {
  const accepted: net.Socket[] = [];
  const listener = await connections.listen(loopback(0), {
    connection: (socket) => accepted.push(socket),
    acceptError: () => assert.fail('accept error'),
    failed: (message) => assert.fail(message),
  });
  return { accepted, listener };
}

test('MPTCP connect: EPROTONOSUPPORT falls back to TCP, for good; the connection works and is not MPTCP', async () => {
  const { binding, calls } = addonWithoutMptcp();
  const connections = new Connections(binding, true, noDegraded);
  const { server, port } = await tcpServer((socket) => socket.end('hello'));
  try {
    assert.equal(connections.mptcp, true);
    for (let i = 0; i < 2; i += 1) {
      const socket = await connections.connect(loopback(port), 2000);
      const [data] = (await once(socket, 'data')) as [Buffer];
      assert.equal(data.toString(), 'hello');
      assert.equal(connections.negotiatedMptcp(socket), false);
      socket.destroy();
    }
    assert.equal(connections.mptcp, false);
    assert.equal(calls.connect, 1, 'after the kernel said no, MPTCP is not tried again');
  } finally {
    server.close();
  }
});

test('MPTCP connect: any other error code is the connection failing, not a reason to try TCP', async () => {
  const connections = new Connections(native, true, noDegraded);
  const port = await closedPort();
  await assert.rejects(connections.open({ server: loopback(port) }, 2000), (err: unknown) => {
    assert.ok(err instanceof TtunError, String(err));
    assert.equal(err.code, 'ECONNREFUSED');
    assert.match(err.message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: `));
    return true;
  });
  // Only a kernel without MPTCP turns it off; a refused connection does not.
  assert.equal(connections.mptcp, kernelHasMptcp);
});

test('MPTCP listener and connect with the real addon: both ends negotiate MPTCP where the kernel has it', async () => {
  const connections = new Connections(native, true, () => {});
  const { accepted, listener } = await listenAccepting(connections);
  try {
    const { port } = listener.address() as net.AddressInfo;
    const socket = await connections.connect(loopback(port), 2000);
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(connections.negotiatedMptcp(socket), kernelHasMptcp);
    assert.equal(connections.negotiatedMptcp(accepted[0]!), kernelHasMptcp);
    // The same end without MPTCP asked for never reports it, whatever the socket is.
    assert.equal(new Connections(native, false, () => {}).negotiatedMptcp(socket), false);
    socket.destroy();
  } finally {
    for (const socket of accepted) socket.destroy();
    listener.close();
  }
});

test('MPTCP listener: EPROTONOSUPPORT falls back to a TCP listener that accepts, tunes and hands over connections', async () => {
  const { binding, calls } = addonWithoutMptcp();
  const connections = new Connections(binding, true, noDegraded);
  const { accepted, listener } = await listenAccepting(connections);
  try {
    assert.equal(calls.listen, 1);
    assert.equal(connections.mptcp, false);
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
    // An accepted connection has an error handler already: an error on it is not an uncaught exception.
    accepted[0]!.emit('error', new Error('reset by a test'));
    client.destroy();
  } finally {
    for (const socket of accepted) socket.destroy();
    listener.close();
  }
});

test('listen errors are TtunErrors with the errno as code, for TCP and MPTCP listeners', async () => {
  const { server, port } = await tcpServer();
  try {
    for (const mptcp of [false, true]) {
      const connections = new Connections(native, mptcp, noDegraded);
      await assert.rejects(
        connections.listen(loopback(port), { connection: () => {}, acceptError: () => {}, failed: () => {} }),
        (err: unknown) => {
          assert.ok(err instanceof TtunError, String(err));
          assert.equal(err.code, 'EADDRINUSE');
          assert.equal(err.message, `cannot listen on 127.0.0.1:${port}: the port is already in use`);
          return true;
        },
      );
    }
  } finally {
    server.close();
  }
});

test('an aborted connect rejects at once with ABORT_ERR and leaves no socket behind', async () => {
  const connections = new Connections(native, false, noDegraded);
  let arrived = 0;
  const { server, port } = await tcpServer((socket) => {
    arrived += 1;
    socket.destroy();
  });
  try {
    const controller = new AbortController();
    const opening = connections.open({ server: loopback(port) }, 10_000, controller.signal);
    controller.abort();
    await assert.rejects(opening, { name: 'TtunError', code: 'ABORT_ERR' });
    const already = new AbortController();
    already.abort();
    await assert.rejects(connections.connect(loopback(port), 10_000, already.signal), { code: 'ABORT_ERR' });
    // Nothing is left connecting: a later connect is the only one the server sees.
    const socket = await connections.connect(loopback(port), 2000);
    await once(socket, 'close');
    assert.equal(arrived, 1);
  } finally {
    server.close();
  }
});

test('through a proxy: a refusal is a ProxyError with a code, an unreachable proxy a connect error naming it', async () => {
  const connections = new Connections(native, false, noDegraded);
  const { server, port } = await tcpServer((socket) =>
    socket.once('data', () => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n')),
  );
  try {
    const proxy = parseProxyUrl(`http://127.0.0.1:${port}`, 'proxy');
    await assert.rejects(connections.open({ server: { host: 'vpn.example.com', port: 20203 }, proxy }, 2000), (err: unknown) => {
      assert.ok(err instanceof ProxyError, String(err));
      assert.equal(err.code, 'EPROXYAUTH');
      assert.equal(err.reason, 'proxy-auth');
      return true;
    });
    const gone = parseProxyUrl(`http://127.0.0.1:${await closedPort()}`, 'proxy');
    await assert.rejects(connections.open({ server: { host: 'vpn.example.com', port: 20203 }, proxy: gone }, 2000), (err: unknown) => {
      assert.ok(err instanceof TtunError, String(err));
      assert.equal(err.code, 'ECONNREFUSED');
      assert.ok(err.message.startsWith(`cannot connect to proxy ${gone.display}: `), err.message);
      return true;
    });
  } finally {
    server.close();
  }
});

test("'degraded' is reported once, naming the options a connection refused, however many connections refuse them", async () => {
  // A Unix socket is a socket with an fd that refuses every TCP-level option: a real refusal, no root needed.
  const dir = await mkdtemp(join(tmpdir(), 'ttun-connections-'));
  const path = join(dir, 'socket');
  const server = net.createServer();
  server.listen(path);
  await once(server, 'listening');
  const reports: string[] = [];
  const connections = new Connections(native, false, (message) => reports.push(message));
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 3; i += 1) {
      const socket = net.connect(path);
      sockets.push(socket);
      await once(socket, 'connect');
      connections.tune(socket);
    }
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(reports[0]!, /^the connection refused .*TCP_USER_TIMEOUT.*: a dead peer may take longer to notice$/);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a TCP connection accepts every option: no degraded report', async () => {
  const reports: string[] = [];
  const connections = new Connections(native, false, (message) => reports.push(message));
  const { server, port } = await tcpServer();
  try {
    const socket = await connections.connect(loopback(port), 2000);
    socket.destroy();
    assert.deepEqual(reports, []);
  } finally {
    server.close();
  }
});
