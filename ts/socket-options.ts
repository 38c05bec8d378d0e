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

export function tuneSocket(socket: Socket, native: NativeBinding): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_SECS * 1000);
  // Node exposes no documented fd getter on a connected socket; _handle.fd is what its own
  // cluster and child_process code use. Without it we keep Node's options alone.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd === 'number' && fd >= 0) {
    native.tuneSocket(fd, { keepaliveSecs: KEEPALIVE_SECS, userTimeoutMs: USER_TIMEOUT_MS, notsentLowat: NOTSENT_LOWAT });
  }
}
