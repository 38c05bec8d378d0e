// A steady flood of silent connections (TCP connect, then nothing) at a target rate:
//   node flood.js HOST PORT PER_SECOND SECONDS
// Prints `started` on the first connection, `rate N` each second (connections made in it),
// and `done <made> in <s> s: <rate>/s` at the end. On 2 busy cores it may fall short of the
// target rate; the lines say what it reached.
import net from 'node:net';

const [host, portText, rateText, secondsText] = process.argv.slice(2) as [string, string, string, string];
const port = Number(portText);
const perSecond = Number(rateText);
const seconds = Number(secondsText);
/** Connections started but not yet closed; beyond this it waits rather than run out of descriptors. */
const MAX_OPEN = 4000;

let started = 0;
let connected = 0;
let open = 0;
let lastReported = 0;
const begin = Date.now();

function openOne(): void {
  started += 1;
  open += 1;
  const socket = net.connect({ host, port });
  socket.on('connect', () => {
    connected += 1;
    if (connected === 1) process.stdout.write('started\n');
  });
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.on('close', () => (open -= 1));
  // Nobody should hold a silent connection long; if the server does, let it go after a while.
  setTimeout(() => socket.destroy(), 15_000).unref();
}

// Every few ms, start as many as the target rate says are due by now (catching up after a slow tick).
const tick = setInterval(() => {
  const elapsed = (Date.now() - begin) / 1000;
  if (elapsed >= seconds) {
    clearInterval(tick);
    clearInterval(report);
    process.stdout.write(`done ${connected} in ${elapsed.toFixed(1)} s: ${Math.round(connected / elapsed)}/s\n`);
    process.exit(0);
  }
  const due = Math.floor(elapsed * perSecond);
  while (started < due && open < MAX_OPEN) openOne();
}, 5);

const report = setInterval(() => {
  process.stdout.write(`rate ${connected - lastReported}\n`);
  lastReported = connected;
}, 1000);
