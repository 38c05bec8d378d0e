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
import { type ClientOptions, TtunClient } from './client.js';
import { type ServerOptions, TtunServer } from './server.js';

export { type ClientOptions, TtunClient } from './client.js';
export { CIPHERS, type CipherName, DEFAULT_MTU, DEFAULT_PORT, TUNNEL_ADDRESSES } from './config.js';
export type { CommonOptions } from './endpoint.js';
export type { EndpointStats } from './endpoint-stats.js';
export { HandshakeError, type RejectReason, TtunError } from './errors.js';
export type { TunInfo } from './native-tun.js';
export type { DataPath } from './packet-carrier.js';
export { type ServerOptions, TtunServer } from './server.js';
export { openTun, TunDevice, type TunOptions } from './standalone-tun.js';

/** Creates the TUN device (10.1.1.1/30, fc11::1/126 unless `address` says otherwise), adds its routes, runs `up`, and listens. Resolves once all that is done. */
export function createServer(options: ServerOptions): Promise<TtunServer> {
  return TtunServer.start(options);
}

/** Creates the TUN device (10.1.1.2/30, fc11::2/126 unless `address` says otherwise), adds its routes, runs `up`, and starts connecting, reconnecting forever until close(). */
export function connect(options: ClientOptions): Promise<TtunClient> {
  return TtunClient.start(options);
}
