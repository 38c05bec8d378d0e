// Preloaded (node --import) into the real CLI by signals.test.ts: net.Server.close() still closes
// the listener but never calls back, and keeps the process alive as a real stuck shutdown would
// (a pending handle), so the server's close() never settles. It stands in for any shutdown that
// hangs (a peer that never lets go, a stuck device), which ttun cannot rule out.
import net from 'node:net';

const close = net.Server.prototype.close;
net.Server.prototype.close = function (this: net.Server) {
  setInterval(() => {}, 60_000);
  return close.call(this);
} as typeof close;
