// The two protocol cores (napi addon, WebAssembly) are one Rust crate behind two bindings: they
// agree on the IP-packet check and on the stream receiver (same packets in any chunking, same
// error on a bad frame); the addon rejects names and numbers its enums do not have; MPTCP and
// socket errors reach JavaScript with a `code`.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { loadNative } from '../../ts/core/native.js';
import { Direction, type ProtocolCore } from '../../ts/core/protocol.js';
import { loadWasmCore } from '../../ts/core/wasm-core.js';
import { CIPHERS } from '../../ts/options/values.js';

const native = loadNative();
const wasm = loadWasmCore();
const CORES: Array<[string, ProtocolCore]> = [
  ['native', native],
  ['wasm', wasm],
];
const KEY = Buffer.alloc(32, 7);

/** A deterministic byte source, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state >>> 16;
  };
}

function ipv4(length: number): Buffer {
  const p = Buffer.alloc(length, 0xab);
  p[0] = 0x45;
  p.writeUInt16BE(length, 2);
  return p;
}

function ipv6(payload: number): Buffer {
  const p = Buffer.alloc(40 + payload, 0xcd);
  p[0] = 0x60;
  p.writeUInt16BE(payload, 4);
  return p;
}

test('both cores answer the IP-packet check alike, and right', () => {
  const cases: Array<[Buffer, boolean]> = [
    [ipv4(20), true],
    [ipv4(1500), true],
    [ipv6(0), true],
    [ipv6(1460), true],
    [Buffer.alloc(0), false],
    [ipv4(60).subarray(0, 59), false],
    [Buffer.concat([ipv6(8), Buffer.alloc(1)]), false],
    [Buffer.from('TTUN/v1\0', 'latin1'), false],
  ];
  const next = random(1);
  for (let i = 0; i < 200; i++) {
    const bytes = Buffer.from(Array.from({ length: next() % 80 }, () => next() & 0xff));
    cases.push([bytes, native.isIpPacket(bytes)]);
  }
  for (const [name, core] of CORES) {
    for (const [packet, expected] of cases) assert.equal(core.isIpPacket(packet), expected, `${name}: ${packet.toString('hex')}`);
  }
});

test('both cores receive the same packets from a stream cut anywhere, for both ciphers', () => {
  for (const cipher of CIPHERS) {
    const next = random(cipher.length);
    const packets = Array.from({ length: 40 }, (_, i) => (i % 2 ? ipv6(next() % 3000) : ipv4(20 + (next() % 3000))));
    packets.push(ipv4(0xffff - 16));
    const stream = new native.FrameSealer(cipher, KEY, Direction.ServerToClient, 1).seal(packets);
    for (const [name, core] of CORES) {
      const receiver = new core.FrameReceiver(cipher, KEY, Direction.ServerToClient, 1);
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = 1 + (next() % 2500);
        got.push(...receiver.receive(Buffer.from(stream.subarray(at, at + size))));
        at += size;
      }
      assert.equal(got.length, packets.length, `${name} ${cipher}`);
      for (const [i, p] of packets.entries()) assert.ok(got[i]!.equals(p), `${name} ${cipher}: packet ${i}`);
    }
  }
});

test('both cores fail a bad frame with the same error, and stay failed', () => {
  const frames = new native.FrameSealer('aes-256-gcm', KEY, Direction.ClientToServer, 1).seal([ipv4(100), ipv4(100)]);
  const tampered = Buffer.from(frames);
  tampered[frames.length - 1]! ^= 1;
  const tooShort = Buffer.from([0x00, 0x0f]);
  for (const [bad, message] of [
    [tampered, 'frame failed authentication (wrong PSK or cipher, or tampered)'],
    [tooShort, 'bad frame: length 15 is below the 16-byte tag'],
  ] as const) {
    for (const [name, core] of CORES) {
      const receiver = new core.FrameReceiver('aes-256-gcm', KEY, Direction.ClientToServer, 1);
      assert.throws(() => receiver.receive(Buffer.from(bad)), { code: 'EBADFRAME', message }, name);
      assert.throws(() => receiver.receive(Buffer.from(frames)), { code: 'EBADFRAME' }, `${name}: after the error`);
    }
  }
});

test("the addon's enums are the TypeScript's: Direction's numbers, the cipher names, nothing else", () => {
  assert.deepEqual({ ...native.Direction }, { ClientToServer: 0, ServerToClient: 1 });
  assert.deepEqual({ ...Direction }, { ClientToServer: 0, ServerToClient: 1 });
  for (const cipher of CIPHERS) assert.equal(native.sealFrame(cipher, KEY, Direction.ClientToServer, 1, Buffer.alloc(1)).length, 19);
  assert.throws(() => native.sealFrame('rot13' as never, KEY, Direction.ClientToServer, 1, Buffer.alloc(1)));
  assert.throws(() => native.sealFrame('aes-256-gcm', KEY, 2 as never, 1, Buffer.alloc(1)));
  assert.throws(() => new native.FrameReceiver('aes-256-gcm', KEY, 2 as never, 1));
});

test('MPTCP errors carry a code: a refused connect, a port in use', async () => {
  const mptcp = readFileSync('/proc/sys/net/mptcp/enabled', 'utf8').trim() === '1';
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    // A fresh port nobody listens on: bind one, close it, connect to it.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(native.mptcpConnect('127.0.0.1', closedPort, 2000), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, mptcp ? 'ECONNREFUSED' : 'EPROTONOSUPPORT');
      assert.ok(!err.message.startsWith(`${err.code}:`), err.message);
      return true;
    });
    assert.throws(() => native.mptcpListen('127.0.0.1', port, 16), { code: mptcp ? 'EADDRINUSE' : 'EPROTONOSUPPORT' });
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test('tuneSocket sets every option on a TCP socket and names each one a non-socket refuses', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    const options = { keepaliveSecs: 15, userTimeoutMs: 30_000, notsentLowat: 131072 };
    assert.deepEqual(native.tuneSocket(fd, options), []);
    const file = openSync('/dev/null', 'r');
    const refused = native.tuneSocket(file, options).map((r) => r.split(' ')[0]);
    closeSync(file);
    assert.deepEqual(refused, ['SO_KEEPALIVE', 'TCP_KEEPIDLE', 'TCP_KEEPINTVL', 'TCP_USER_TIMEOUT', 'TCP_NOTSENT_LOWAT']);
  } finally {
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});
