// Opens a TUN device through the packet API (openTun) with the client's addresses and answers
// every IPv4 ICMP echo request it reads with an echo reply it writes: a ping to 10.1.1.1 from the
// same namespace then succeeds only if both directions of the API work.

import { openTun } from '../../../ts/index.js';
import { checksum } from './ip.js';

const tun = openTun({ role: 'client' });
process.stdout.write(`ready ${tun.info.name}\n`);
process.on('SIGTERM', () => {
  tun.close();
  process.exit(0);
});
let answered = 0;
for await (const packet of tun.packets()) {
  const ihl = (packet[0]! & 0x0f) * 4;
  if (packet[0]! >> 4 !== 4 || packet[9] !== 1 || packet[ihl] !== 8) continue;
  const reply = Buffer.from(packet);
  packet.copy(reply, 12, 16, 20); // src <- dst
  packet.copy(reply, 16, 12, 16); // dst <- src
  reply[8] = 64;
  reply.writeUInt16BE(0, 10);
  reply.writeUInt16BE(checksum(reply.subarray(0, ihl)), 10);
  reply[ihl] = 0; // echo reply
  reply.writeUInt16BE(0, ihl + 2);
  reply.writeUInt16BE(checksum(reply.subarray(ihl)), ihl + 2);
  answered += tun.write(reply);
  process.stdout.write(`answered ${answered}\n`);
}
