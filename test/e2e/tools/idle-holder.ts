// Holds COUNT idle TCP connections to HOST:PORT (connect, then send nothing), opening a new one
// for each that is closed, until killed:
//   node idle-holder.js HOST PORT COUNT
// Prints `holding N` once N connections are open at once for the first time at COUNT, and
// `opened N` each second (connections made so far).
import net from 'node:net';

const [host, portText, countText] = process.argv.slice(2) as [string, string, string];
const port = Number(portText);
const count = Number(countText);
let open = 0;
let opened = 0;
let reachedCount = false;

function openOne(): void {
  opened += 1;
  open += 1;
  const socket = net.connect({ host, port });
  socket.on('connect', () => {
    if (!reachedCount && open >= count) {
      reachedCount = true;
      process.stdout.write(`holding ${open}\n`);
    }
  });
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.on('close', () => {
    open -= 1;
    // Re-open at once, as a client keeping its connections would (a little later on an error storm).
    setTimeout(openOne, 20);
  });
}

for (let i = 0; i < count; i++) openOne();
setInterval(() => process.stdout.write(`opened ${opened}\n`), 1000);
