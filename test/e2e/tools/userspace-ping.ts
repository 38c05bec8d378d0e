// A userspace-mode client (tun: false, the programmatic API) against a real ttun server with a
// TUN: sends an ICMP echo request to 10.1.1.1 as 10.1.1.2 and waits for the server kernel's reply.
//   node userspace-ping.js HOST:PORT   (key in TTUN_PSK)

import { connect } from '../../../ts/index.js';
import { checksum } from './ip.js';

const request = Buffer.alloc(20 + 8 + 16);
request[0] = 0x45;
request.writeUInt16BE(request.length, 2);
request[8] = 64;
request[9] = 1;
request.set([10, 1, 1, 2], 12);
request.set([10, 1, 1, 1], 16);
request.writeUInt16BE(checksum(request.subarray(0, 20)), 10);
request[20] = 8; // echo request
request.writeUInt16BE(0x7474, 24); // id
request.write('userspace mode!!', 28);
request.writeUInt16BE(checksum(request.subarray(20)), 22);

const client = await connect({ psk: process.env.TTUN_PSK!, server: process.argv[2]!, tun: false });
client.on('up', () => client.send(request));
const timer = setTimeout(() => {
  process.stdout.write('timeout\n');
  process.exit(1);
}, 10_000);
for await (const packet of client.packets()) {
  const isReply = packet[9] === 1 && packet[20] === 0 && packet.readUInt16BE(24) === 0x7474;
  if (isReply && packet.subarray(28).equals(request.subarray(28))) {
    process.stdout.write(`reply from ${packet.subarray(12, 16).join('.')}\n`);
    clearTimeout(timer);
    await client.close();
    break;
  }
}
