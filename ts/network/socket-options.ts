/**
 * The Node internals a socket's hand-over needs, kept in one place: its file descriptor and a way
 * to make Node stop reading it. Only connections.ts (TCP options, MPTCP checks) and the data
 * path's carrier choice (packet-carrier.ts) use them.
 */
import type { Socket } from 'node:net';

/**
 * The OS file descriptor of a connected socket, where there is one (not on Windows). Node has no
 * documented getter; _handle.fd is what its own cluster and child_process code use.
 */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Makes Node stop reading a socket so that the native data path can read its fd, and returns
 * what Node had already read but not delivered (a paused stream buffers). Returns undefined,
 * leaving the socket as it was, where the handle offers no readStop (then Node keeps reading).
 * Like _handle.fd, readStop is what Node's own net code calls to stop a read; it is synchronous.
 */
export function stopReading(socket: Socket): Buffer | undefined {
  const handle = (socket as unknown as { _handle?: { readStop?: () => number; reading?: boolean } })._handle;
  if (typeof handle?.readStop !== 'function') return undefined;
  handle.reading = false;
  if (handle.readStop() !== 0) return undefined;
  const buffered: Buffer[] = [];
  let chunk = socket.read() as Buffer | null;
  while (chunk !== null) {
    buffered.push(chunk);
    chunk = socket.read() as Buffer | null;
  }
  return Buffer.concat(buffered);
}
