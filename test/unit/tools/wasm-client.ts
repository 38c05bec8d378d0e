// Runs with TTUN_NATIVE=off: checks that the WebAssembly core is what loaded, checks it against the
// known-answer vectors, then completes a handshake (userspace mode) with the server at PORT and
// echoes one packet. Prints one JSON line of results.
//   node wasm-client.js PORT KEY
import { readFileSync } from 'node:fs';
import { loadCore } from '../../../ts/core/native.js';
import { MAGIC } from '../../../ts/core/protocol.js';
import { connect } from '../../../ts/index.js';

const [port, key] = process.argv.slice(2) as [string, string];
const core = loadCore();
const vectors = JSON.parse(readFileSync(new URL('../../../../test/vectors/ttun-v1-vectors.json', import.meta.url), 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const checks: Record<string, boolean> = {};
for (const [i, c] of (vectors.cases as Array<Record<string, string & string[]>>).entries()) {
  const k = core.pskKey(Buffer.from(c.psk_utf8!, 'utf8'));
  const sk = core.sessionKey(k, hex(c.client_nonce!), hex(c.server_nonce!));
  checks[`case${i}-keys`] = k.toString('hex') === c.K && sk.toString('hex') === c.SK;
  const packets = [MAGIC, ...c.packets!.map(hex)];
  for (const [dir, stream] of [
    [0, c.client_to_server_stream!],
    [1, c.server_to_client_stream!],
  ] as const) {
    const sealer = new core.FrameSealer(c.cipher as never, sk, dir, 0);
    checks[`case${i}-seal${dir}`] = sealer.seal(packets).equals(hex(stream));
    // Fed in odd-sized chunks, the receiver gives back every packet.
    const receiver = new core.FrameReceiver(c.cipher as never, sk, dir, 0);
    const opened: Buffer[] = [];
    const bytes = hex(stream);
    for (let at = 0; at < bytes.length; at += 977) opened.push(...receiver.receive(bytes.subarray(at, at + 977)));
    checks[`case${i}-open${dir}`] = opened.length === packets.length && opened.every((p, j) => p.equals(packets[j]!));
  }
}

const packet = Buffer.alloc(48);
packet[0] = 0x45;
packet.writeUInt16BE(48, 2);
packet.write('through the wasm core', 20);
const client = await connect({ psk: key, server: `127.0.0.1:${port}`, tun: false });
client.on('up', () => client.send(packet));
const timer = setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ kind: core.kind, checks, echoed: false })}\n`);
  process.exit(1);
}, 10_000);
for await (const back of client.packets()) {
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify({ kind: core.kind, endpointCore: client.coreKind, checks, echoed: back.equals(packet) })}\n`);
  await client.close();
  break;
}
