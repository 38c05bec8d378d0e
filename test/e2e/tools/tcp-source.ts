// Connects to HOST PORT, sends MIB mebibytes of random data, prints `bytes=<n> sha256=<hex>` of
// what it sent once the receiver has closed its side.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host, port, mib] = process.argv.slice(2);
const total = Number(mib) * 1024 * 1024;
const hash = createHash('sha256');
const socket = net.connect(Number(port), host, () => {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const chunk = randomBytes(Math.min(256 * 1024, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
});
socket.resume();
socket.on('close', () => process.stdout.write(`bytes=${total} sha256=${hash.digest('hex')}\n`));
socket.on('error', (err) => {
  process.stderr.write(`tcp-source: ${err.message}\n`);
  process.exit(1);
});
