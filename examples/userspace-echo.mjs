// Runnable without root: a ttun server and client in this one process, in userspace mode
// (tun: false), over loopback TCP. The client sends ICMP echo requests through the tunnel, the
// server answers them itself (a tiny userspace network stack), the client prints the round trips.
//   node examples/userspace-echo.mjs [count]

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'ttun';

const count = Number(process.argv[2] ?? 3);
const psk = randomBytes(32).toString('base64');

// An error either reports (its TUN or listener failed) would be thrown if nobody listened, so it is
// logged with its code. (In TypeScript, or JavaScript from Node 24, `await using` closes them too.)
const server = await createServer({ psk, listen: '127.0.0.1:0', tun: false });
const client = await connect({ psk, server: `127.0.0.1:${server.address().port}`, tun: false });
for (const endpoint of [server, client]) endpoint.on('error', (err) => console.error(`${err.code}: ${err.message}`));
client.on('down', (peer, end) => console.log(`session with ${peer} ended: ${end.kind}`));
await new Promise((resolve) => client.once('up', resolve));
console.log(`session up (${server.address().address}:${server.address().port})`);

// The server's side: every echo request that arrives is turned into an echo reply.
(async () => {
  for await (const packet of server.packets()) {
    // send() says 'sent', 'queued' (the socket is full: wait for 'drain') or 'dropped' (no session).
    if (packet[9] === 1 && packet[20] === 8 && server.send(echoReply(packet)) === 'queued') await once(server, 'drain');
  }
})();

const replies = client.packets()[Symbol.asyncIterator]();
for (let seq = 1; seq <= count; seq++) {
  const started = process.hrtime.bigint();
  if (client.send(echoRequest(seq)) === 'dropped') throw new Error('the session went down');
  const { value: reply } = await replies.next();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`reply from 10.1.1.1: icmp_seq=${reply.readUInt16BE(26)} time=${ms.toFixed(3)} ms`);
}
console.log('counters:', JSON.stringify(client.stats()));
await client.close();
await server.close();

/** An IPv4 ICMP echo request from 10.1.1.2 to 10.1.1.1 with 32 bytes of payload. */
function echoRequest(seq) {
  const packet = Buffer.alloc(20 + 8 + 32);
  packet[0] = 0x45; // IPv4, 20-byte header
  packet.writeUInt16BE(packet.length, 2);
  packet[8] = 64; // TTL
  packet[9] = 1; // ICMP
  packet.set([10, 1, 1, 2, 10, 1, 1, 1], 12);
  packet[20] = 8; // echo request
  packet.writeUInt16BE(0x7474, 24); // identifier
  packet.writeUInt16BE(seq, 26);
  packet.fill(0x61, 28);
  return withChecksums(packet);
}

/** The reply to an echo request: addresses swapped, type 0, same identifier, sequence and data. */
function echoReply(request) {
  const packet = Buffer.from(request);
  packet.set(request.subarray(16, 20), 12);
  packet.set(request.subarray(12, 16), 16);
  packet[20] = 0;
  return withChecksums(packet);
}

function withChecksums(packet) {
  packet.writeUInt16BE(0, 10);
  packet.writeUInt16BE(checksum(packet.subarray(0, 20)), 10);
  packet.writeUInt16BE(0, 22);
  packet.writeUInt16BE(checksum(packet.subarray(20)), 22);
  return packet;
}

/** The Internet checksum (RFC 1071). */
function checksum(bytes) {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
