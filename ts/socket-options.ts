/**
 * The one place that sets TCP options on tunnel connections: TCP_NODELAY and 15 s keepalive
 * through Node, and through the addon what Node has no API for (TCP_USER_TIMEOUT, keepalive
 * interval, TCP_NOTSENT_LOWAT). v1 frames have no room for keepalive messages, so dead-peer
 * detection lives here, in TCP.
 */
import type { Socket } from 'node:net';
import type { NativeBinding } from './native.js';

export const KEEPALIVE_SECS = 15;
/** Unacknowledged data older than this ends the connection (with keepalive: idle peers too). */
export const USER_TIMEOUT_MS = 30_000;
/** Unsent bytes the kernel may hold for us; beyond it the socket reports backpressure. */
export const NOTSENT_LOWAT = 128 * 1024;

/** Returns the options the socket refused (e.g. TCP_USER_TIMEOUT on an MPTCP socket of an older kernel). */
export function tuneSocket(socket: Socket, native: NativeBinding): string[] {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_SECS * 1000);
  const fd = socketFd(socket);
  if (fd === undefined) return [];
  return native.tuneSocket(fd, { keepaliveSecs: KEEPALIVE_SECS, userTimeoutMs: USER_TIMEOUT_MS, notsentLowat: NOTSENT_LOWAT });
}

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
