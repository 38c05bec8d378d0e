// Userspace mode (tun: false): the programmatic API carries packets between two Node endpoints
// over loopback TCP with no TUN device and no root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer } from '../../ts/index.js';
import { ipv4Packet, take, userspacePair } from './tools/userspace.js';

const PSK = 'userspace test key';

test('packets cross both ways, in order and byte for byte, with no TUN', { timeout: 30_000 }, async () => {
  const { server, client, close } = await userspacePair(PSK);
  try {
    assert.equal(server.tun, null);
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
    await close();
  }
});

test('send() refuses what is not one whole IP packet; without a session packets are dropped and counted', async () => {
  const server = await createServer({ psk: PSK, listen: '127.0.0.1:0', tun: false });
  try {
    assert.throws(() => server.send(Buffer.from('not a packet')), /whole IPv4 or IPv6 packets/);
    const truncated = ipv4Packet(1).subarray(0, 50);
    assert.throws(() => server.send(truncated), /whole IPv4 or IPv6 packets/);
    assert.equal(server.send(ipv4Packet(1)), 'dropped');
    assert.equal(server.stats().txDroppedNoSession, 1);
  } finally {
    await server.close();
  }
});

test('the largest packet a frame carries (65519 bytes) crosses both ways intact; a larger one is dropped and counted', {
  timeout: 30_000,
}, async () => {
  const { server, client, close } = await userspacePair(PSK);
  try {
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
    await close();
  }
});
