// The API as a program uses it: typed events (a wrong event name or listener does not compile:
// the @ts-expect-error lines below fail the build if they ever stop being errors), an AbortSignal,
// Symbol.asyncDispose, send()'s three answers with 'drain', and errors with a typed code.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { connect, createServer, type SessionEnd, type TtunClient, TtunError, type TtunErrorCode, type TtunServer } from '../../ts/index.js';
import { ipv4Packet, userspacePair } from './tools/userspace.js';

const PSK = 'api test key, long enough';

/** Compiled, never run: what must and must not type-check. */
export function typeChecks(server: TtunServer, client: TtunClient): void {
  server.on('up', (peer: string, info: { mptcp: boolean }) => void [peer, info.mptcp]);
  server.on('down', (_peer: string, end: SessionEnd) => void end.kind);
  server.on('rejected', (_peer, reason) => void (reason satisfies 'timeout' | 'auth' | 'bad-frame' | 'closed' | 'busy' | 'attach'));
  client.on('reconnecting', (delayMs: number) => void delayMs);
  client.on('error', (err: TtunError) => void (err.code satisfies TtunErrorCode));
  // @ts-expect-error a misspelt event
  client.on('upp', () => {});
  // @ts-expect-error a listener of the wrong type
  client.on('reconnecting', (delay: string) => void delay);
  // @ts-expect-error a client has no 'rejected' event
  client.on('rejected', () => {});
  // @ts-expect-error an end's kind is a closed set
  server.on('down', (_peer, end) => void (end.kind satisfies 'closed by peer'));
  // @ts-expect-error a code is a closed set
  const code: TtunErrorCode = 'EWHATEVER';
  void code;
}

test('send() says sent, queued (then drain) or dropped', { timeout: 30_000 }, async () => {
  const { server, client, close } = await userspacePair(PSK);
  try {
    assert.equal(client.send(ipv4Packet(1)), 'sent');
    // Nobody reads the server's packets: its queue fills, pauses the socket, and the client's
    // writes back up until send() says 'queued'.
    let answer = client.send(ipv4Packet(2, 60_000));
    for (let i = 0; answer === 'sent' && i < 100_000; i++) answer = client.send(ipv4Packet(i, 60_000));
    assert.equal(answer, 'queued');
    const drained = once(client, 'drain');
    // Reading on the server makes room all the way back.
    const reader = (async () => {
      for await (const _ of server.packets()) {
        /* drain */
      }
    })();
    await drained;
    await server.close();
    await reader;
    await once(client, 'down');
    assert.equal(client.send(ipv4Packet(3)), 'dropped');
  } finally {
    await close();
  }
});

test('signal: aborted before the start rejects with ABORT_ERR and creates nothing; aborted later closes', async () => {
  const before = new AbortController();
  before.abort();
  await assert.rejects(createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false, signal: before.signal }), (err: TtunError) => {
    assert.ok(err instanceof TtunError);
    assert.equal(err.code, 'ABORT_ERR');
    return true;
  });
  const later = new AbortController();
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false, signal: later.signal });
  const { port } = server.address();
  later.abort();
  // The listener goes: a connection is refused once close() has run.
  for (let tries = 0; ; tries++) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    if (refused) break;
    assert.ok(tries < 100, 'still listening after abort');
    await new Promise((r) => setTimeout(r, 20));
  }
  const aborted = new AbortController();
  const client = await connect({ psk: PSK, server: `127.0.0.1:${port}`, tun: false, signal: aborted.signal });
  aborted.abort();
  await assert.doesNotReject(client.close());
});

test('Symbol.asyncDispose closes the endpoint (await using)', async () => {
  let port: number;
  {
    await using server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
    port = server.address().port;
  }
  await assert.rejects(new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)), {
    code: 'ECONNREFUSED',
  });
});

test('a bad option rejects with a TtunError whose code says which kind; the message speaks of API options', async () => {
  await assert.rejects(
    createServer({ psk: PSK, tun: false, mtu: 10 }),
    (err: TtunError) => err.code === 'EBADMTU' || err.code === 'EBADOPTION',
  );
  await assert.rejects(connect({ psk: PSK, tun: false, server: 'h:0' }), {
    code: 'EBADADDR',
    option: 'server',
    message: /^bad server: the port must be 1\.\.65535$/,
  });
  await assert.rejects(createServer({ psk: '', tun: false }), { code: 'ENOPSK' });
});
