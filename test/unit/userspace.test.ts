// Userspace mode (tun: false): the programmatic API carries packets between two Node endpoints
// over loopback TCP with no TUN device and no root.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect, createServer } from '../../ts/index.js';

/** A valid IPv4 packet (UDP) of `size` bytes whose payload encodes `n`. */
function ipv4Packet(n: number, size = 100): Buffer {
  const p = Buffer.alloc(size);
  p[0] = 0x45;
  p.writeUInt16BE(size, 2);
  p[8] = 64;
  p[9] = 17;
  p.set([10, 1, 1, 2], 12);
  p.set([10, 1, 1, 1], 16);
  p.writeUInt32BE(n, 28);
  return p;
}

async function take(iterator: AsyncIterator<Buffer>, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  while (out.length < count) {
    const { value, done } = await iterator.next();
    if (done) break;
    out.push(value);
  }
  return out;
}

test('packets cross both ways, in order and byte for byte, with no TUN', { timeout: 30_000 }, async () => {
  const server = await createServer({ psk: 'userspace test key', listen: '127.0.0.1:0', tun: false });
  const client = await connect({ psk: 'userspace test key', server: `127.0.0.1:${server.address().port}`, tun: false });
  try {
    assert.equal(server.tun, null);
    await Promise.all([once(server, 'up'), once(client, 'up')]);
    const toServer = Array.from({ length: 2000 }, (_, i) => ipv4Packet(i, 60 + (i % 1200)));
    for (let i = 0; i < toServer.length; i += 50) client.send(toServer.slice(i, i + 50));
    const received = await take(server.packets(), toServer.length);
    assert.equal(received.length, toServer.length);
    for (const [i, p] of received.entries()) assert.ok(p.equals(toServer[i]!), `packet ${i} differs`);

    const back = [ipv4Packet(7), ipv4Packet(8, 1280)];
    server.send(back);
    const answers = await take(client.packets(), 2);
    assert.ok(answers[0]!.equals(back[0]!) && answers[1]!.equals(back[1]!));
    assert.equal(client.stats().txPackets, 2000);
    assert.equal(server.stats().rxPackets, 2000);
  } finally {
    await client.close();
    await server.close();
  }
});

test('send() refuses what is not one whole IP packet; without a session packets are dropped and counted', async () => {
  const server = await createServer({ psk: 'userspace test key', listen: '127.0.0.1:0', tun: false });
  try {
    assert.throws(() => server.send(Buffer.from('not a packet')), /whole IPv4 or IPv6 packets/);
    const truncated = ipv4Packet(1).subarray(0, 50);
    assert.throws(() => server.send(truncated), /whole IPv4 or IPv6 packets/);
    assert.equal(server.send(ipv4Packet(1)), false);
    assert.equal(server.stats().txDroppedNoSession, 1);
  } finally {
    await server.close();
  }
});

test('the largest packet a frame carries (65519 bytes) crosses both ways intact; a larger one is dropped and counted', {
  timeout: 30_000,
}, async () => {
  const server = await createServer({ psk: 'userspace test key', listen: '127.0.0.1:0', tun: false });
  const client = await connect({ psk: 'userspace test key', server: `127.0.0.1:${server.address().port}`, tun: false });
  try {
    await Promise.all([once(server, 'up'), once(client, 'up')]);
    const largest = ipv4Packet(1, 65519);
    largest.fill(0x5a, 32);
    const marker = ipv4Packet(2);
    // The oversized packet in between must not stop the one after it.
    client.send([largest, ipv4Packet(3, 65535), marker]);
    const [first, second] = await take(server.packets(), 2);
    assert.ok(first!.equals(largest), 'the 65519-byte packet arrived byte for byte');
    assert.ok(second!.equals(marker));
    assert.equal(client.stats().txDroppedTooBig, 1);
    server.send([largest]);
    const [back] = await take(client.packets(), 1);
    assert.ok(back!.equals(largest));
  } finally {
    await client.close();
    await server.close();
  }
});
