/**
 * ttun's programmatic API. The `ttun` CLI is a thin layer over these two functions.
 *
 * ```ts
 * import { createServer, connect } from 'ttun';
 * const server = await createServer({ psk: process.env.TTUN_PSK! });
 * server.on('up', (peer) => console.log('peer up', peer));
 * // elsewhere
 * const client = await connect({ psk: process.env.TTUN_PSK!, server: 'vpn.example.com:20203' });
 * await client.close();
 * ```
 */
import { type ClientOptions, TtunClient } from './tunnel/client.js';
import { type ServerOptions, TtunServer } from './tunnel/server.js';

export type { EndpointStats } from './datapath/endpoint-stats.js';
export type { TunInfo } from './datapath/native-tun.js';
export type { SessionEnd, SessionEndKind } from './datapath/session-end.js';
export { openTun, TunDevice, type TunOptions } from './datapath/standalone-tun.js';
export type { DataPath } from './options/values.js';
export { CIPHERS, type CipherName, DEFAULT_MTU, DEFAULT_PORT, TUNNEL_ADDRESSES } from './options/values.js';
export { HandshakeError, type RejectReason, TtunError, type TtunErrorCode } from './shared/errors.js';
export { type ClientOptions, TtunClient } from './tunnel/client.js';
export type { CommonOptions, SendResult } from './tunnel/endpoint.js';
export type { ClientEvents, DropKind, EndpointEvents, FailReason, ServerEvents } from './tunnel/events.js';
export { type ServerOptions, TtunServer } from './tunnel/server.js';

/** Creates the TUN device (10.1.1.1/30, fc11::1/126 unless `address` says otherwise), adds its routes, runs `up`, and listens. Resolves once all that is done. */
export function createServer(options: ServerOptions): Promise<TtunServer> {
  return TtunServer.start(options);
}

/** Creates the TUN device (10.1.1.2/30, fc11::2/126 unless `address` says otherwise), adds its routes, runs `up`, and starts connecting, reconnecting forever until close(). */
export function connect(options: ClientOptions): Promise<TtunClient> {
  return TtunClient.start(options);
}
