// Accepts one TCP connection on HOST PORT, reads it to the end and prints
// `bytes=<n> sha256=<hex>`. Used by the end-to-end tests on the far side of the tunnel.
import { createHash } from 'node:crypto';
import net from 'node:net';

const [host, port] = process.argv.slice(2);
const server = net.createServer((socket) => {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (d) => {
    hash.update(d);
    bytes += d.length;
  });
  socket.on('end', () => {
    process.stdout.write(`bytes=${bytes} sha256=${hash.digest('hex')}\n`);
    socket.end();
    server.close();
  });
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
