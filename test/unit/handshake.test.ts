// The handshake state machine over real loopback TCP sockets, against itself and against a
// scripted peer that misbehaves in each way the server must survive.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { loadNative } from '../../ts/core/native.js';
import { Direction, MAGIC } from '../../ts/core/protocol.js';
import type { CipherName } from '../../ts/options/values.js';
import { HandshakeError } from '../../ts/shared/errors.js';
import { clientHandshake, type HandshakeParams, serverHandshake } from '../../ts/tunnel/handshake.js';

const native = loadNative();
const params = (psk: string, cipher: CipherName = 'chacha20-poly1305', timeoutMs = 2000): HandshakeParams => ({
  core: native,
  cipher,
  pskKey: native.pskKey(Buffer.from(psk)),
  timeoutMs,
});

/** A connected pair of loopback sockets. */
async function socketPair(): Promise<[net.Socket, net.Socket, () => void]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [serverSide] = (await accepted) as [net.Socket];
  await once(client, 'connect').catch(() => {});
  return [
    client,
    serverSide,
    () => {
      client.destroy();
      serverSide.destroy();
      server.close();
    },
  ];
}

const rejectsWith = (reason: string) => (err: unknown) => err instanceof HandshakeError && err.reason === reason;

test('client and server agree on the session key', async () => {
  const [c, s, done] = await socketPair();
  try {
    const [cr, sr] = await Promise.all([clientHandshake(c, params('k')), serverHandshake(s, params('k'))]);
    assert.equal(cr.sessionKey.length, 32);
    assert.ok(cr.sessionKey.equals(sr.sessionKey));
  } finally {
    done();
  }
});

test('frames the server sends in the same write as its magic come out as leftover, byte for byte', async () => {
  const [c, s, done] = await socketPair();
  try {
    const p = params('k');
    let dataFrame: Buffer | undefined;
    // A scripted server: on Nc it answers Ns, its magic and a data frame in one write.
    s.once('data', (nc: Buffer) => {
      const ns = Buffer.alloc(16, 7);
      const sk = native.sessionKey(p.pskKey, nc.subarray(0, 16), ns);
      dataFrame = native.sealFrame('chacha20-poly1305', sk, Direction.ServerToClient, 1, Buffer.from('first packet'));
      s.write(Buffer.concat([ns, native.sealFrame('chacha20-poly1305', sk, Direction.ServerToClient, 0, MAGIC), dataFrame]));
    });
    const result = await clientHandshake(c, p);
    assert.ok(dataFrame && result.leftover.equals(dataFrame));
  } finally {
    done();
  }
});

for (const [what, clientParams] of [
  ['wrong PSK', params('other key')],
  ['other cipher', params('k', 'aes-256-gcm')],
] as const) {
  test(`server rejects a client with the ${what} as auth; client sees the close`, async () => {
    const [c, s, done] = await socketPair();
    try {
      const server = serverHandshake(s, params('k')).finally(() => s.destroy());
      const client = clientHandshake(c, clientParams);
      await assert.rejects(server, rejectsWith('auth'));
      await assert.rejects(client, rejectsWith('closed'));
    } finally {
      done();
    }
  });
}

test('server times out a peer that sends a nonce and then nothing', async () => {
  const [c, s, done] = await socketPair();
  try {
    c.write(Buffer.alloc(16));
    const started = Date.now();
    await assert.rejects(serverHandshake(s, params('k', 'chacha20-poly1305', 300)), rejectsWith('timeout'));
    assert.ok(Date.now() - started >= 290);
  } finally {
    done();
  }
});

test('server refuses a handshake frame whose length is not the magic frame', async () => {
  for (const length of [0, 15, 16, 25, 65535]) {
    const [c, s, done] = await socketPair();
    try {
      const header = Buffer.alloc(18);
      header.writeUInt16BE(length, 16);
      c.write(header);
      await assert.rejects(serverHandshake(s, params('k')), rejectsWith('bad-frame'));
    } finally {
      done();
    }
  }
});

test('server rejects random garbage of the right shape as auth', async () => {
  const [c, s, done] = await socketPair();
  try {
    const garbage = Buffer.alloc(16 + 2 + 24, 0xab);
    garbage.writeUInt16BE(24, 16);
    c.write(garbage);
    await assert.rejects(serverHandshake(s, params('k')), rejectsWith('auth'));
  } finally {
    done();
  }
});

test('a magic frame replayed from another session is refused', async () => {
  // Record a client's magic from one session, replay it into a new one: Ns differs, so SK differs.
  const [c1, s1, done1] = await socketPair();
  const recorded: Buffer[] = [];
  s1.on('data', (d) => recorded.push(d));
  await Promise.all([clientHandshake(c1, params('k')), serverHandshake(s1, params('k'))]).catch(() => {});
  done1();
  const replay = Buffer.concat(recorded).subarray(0, 16 + 2 + 24);
  const [c2, s2, done2] = await socketPair();
  try {
    c2.write(replay);
    await assert.rejects(serverHandshake(s2, params('k')), rejectsWith('auth'));
  } finally {
    done2();
  }
  assert.equal(MAGIC.length, 8);
});
