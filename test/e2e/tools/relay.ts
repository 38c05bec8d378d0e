// A TCP relay that delays every chunk by a fixed time each way, preserving order: a long path
// between a client and the server, without touching either's network settings.
//   node relay.js LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
// Prints `listening` once it accepts connections.
import net from 'node:net';

const [listenHost, listenPort, targetHost, targetPort, delayText] = process.argv.slice(2) as [string, string, string, string, string];
const delayMs = Number(delayText);

/**
 * Forwards `from` to `to`, each chunk `delayMs` after it arrived. One queue and one timer per
 * direction, so order holds whatever the timers do; the end is forwarded after the last chunk.
 */
function delayedPipe(from: net.Socket, to: net.Socket): void {
  const queue: Array<{ due: number; chunk: Buffer | null }> = [];
  // biome-ignore lint/correctness/noUnusedVariables: read by the ??= below (a false positive)
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
  };
  const push = (chunk: Buffer | null) => {
    queue.push({ due: Date.now() + delayMs, chunk });
    timer ??= setTimeout(flush, delayMs);
  };
  from.on('data', (chunk: Buffer) => push(chunk));
  from.on('end', () => push(null));
}

const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const upstream = net.connect({ host: targetHost, port: Number(targetPort), allowHalfOpen: true });
  delayedPipe(client, upstream);
  delayedPipe(upstream, client);
  // A reset on one side resets the other (after the delay would be kinder, but a reset is a reset).
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => setTimeout(() => upstream.destroy(), delayMs + 10));
  upstream.on('close', () => setTimeout(() => client.destroy(), delayMs + 10));
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('listening\n'));
