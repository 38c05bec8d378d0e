// IP packets for userspace endpoints (send() takes whole IPv4/IPv6 packets only), told apart by a
// number in their payload, and a way to read the next one an endpoint received.
import assert from 'node:assert/strict';

/** A valid IPv4 UDP packet of `size` bytes (at least 32) whose payload starts with `n`. */
export function ipv4Packet(n: number, size = 100): Buffer {
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

/** The number ipv4Packet() put in `packet`. */
export const packetNumber = (packet: Buffer): number => packet.readUInt32BE(28);

/** The next packet out of `packets`; fails if the iterator ends (the endpoint closed) first. */
export async function nextPacket(packets: AsyncIterator<Buffer>): Promise<Buffer> {
  const { value, done } = await packets.next();
  assert.ok(!done, 'the endpoint closed before a packet arrived');
  return value;
}
