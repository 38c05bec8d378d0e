// A hostile or broken peer for the server port, one behaviour per run:
//   node hostile.js HOST PORT MODE [KEY]
// silent | garbage | nonce-silence | length-stop | short-length | flood:N  (no key needed)
// tampered | not-ip                                                          (complete the handshake with KEY first)
// Prints `port <local port>` once connected (single-connection modes, so a test can find the
// server's line about this very connection) and, when the server closes it, `closed <ms>`
// (time from connect).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { loadNative } from '../../../ts/core/native.js';
import { Direction } from '../../../ts/core/protocol.js';
import { clientHandshake } from '../../../ts/tunnel/handshake.js';

const [host, portText, mode, key] = process.argv.slice(2) as [string, string, string, string | undefined];
const port = Number(portText);
const native = loadNative();

function open(onConnect: (socket: net.Socket) => void, announce = true): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, host, () => {
      if (announce) process.stdout.write(`port ${socket.localPort}\n`);
      onConnect(socket);
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      process.stdout.write(`closed ${Date.now() - started}\n`);
      resolve();
    });
  });
}

async function authenticated(send: (socket: net.Socket, sessionKey: Buffer) => void): Promise<void> {
  const socket = net.connect(port, host);
  await new Promise((r) => socket.once('connect', r));
  const { sessionKey } = await clientHandshake(socket, {
    core: native,
    cipher: 'chacha20-poly1305',
    pskKey: native.pskKey(Buffer.from(key!, 'utf8')),
    timeoutMs: 5000,
  });
  process.stdout.write(`port ${socket.localPort}\n`);
  process.stdout.write('authenticated\n');
  const started = Date.now();
  socket.on('close', () => process.stdout.write(`closed ${Date.now() - started}\n`));
  socket.on('error', () => {});
  socket.resume();
  send(socket, sessionKey);
}

const frame = (sessionKey: Buffer, counter: number, plaintext: Buffer) =>
  native.sealFrame('chacha20-poly1305', sessionKey, Direction.ClientToServer, counter, plaintext);

switch (mode.split(':')[0]) {
  case 'silent': // connects and sends nothing, not even a nonce
    await open(() => {});
    break;
  case 'garbage':
    await open((s) => s.write(randomBytes(4096)));
    break;
  case 'nonce-silence':
    await open((s) => s.write(randomBytes(16)));
    break;
  case 'length-stop': // a nonce, the magic frame's length, then only part of its body
    await open((s) => s.write(Buffer.concat([randomBytes(16), Buffer.from([0, 24]), randomBytes(5)])));
    break;
  case 'short-length': // L < 16 where the magic frame should be
    await open((s) => s.write(Buffer.concat([randomBytes(16), Buffer.from([0, 5]), randomBytes(5)])));
    break;
  case 'flood': {
    const count = Number(mode.split(':')[1] ?? 500);
    await Promise.all(Array.from({ length: count }, () => open((s) => s.write(randomBytes(16)), false)));
    break;
  }
  case 'tampered':
    await authenticated((socket, sessionKey) => {
      const bad = frame(sessionKey, 1, Buffer.from('4500001c00010000400100000a0101020a0101010800f7ff00000000', 'hex'));
      bad[bad.length - 1]! ^= 0x01;
      socket.write(bad);
    });
    break;
  case 'not-ip':
    await authenticated((socket, sessionKey) => {
      // Frames that authenticate but carry no IP packet: empty, text, a truncated IPv4 header.
      const junk = [Buffer.alloc(0), Buffer.from('hello, not a packet'), Buffer.from('45000054', 'hex')];
      socket.write(Buffer.concat(junk.map((p, i) => frame(sessionKey, i + 1, p))));
      process.stdout.write(`sent ${junk.length}\n`);
    });
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
