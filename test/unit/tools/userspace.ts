// What the unit tests that run endpoints in userspace mode (tun: false, no root) over loopback
// share: a connected server and client, IP packets to send through them, and reading a few back.
import { once } from 'node:events';
import { type ClientOptions, connect, createServer, type ServerOptions, type TtunClient, type TtunServer } from '../../../ts/index.js';

export { ipv4Packet } from './packets.js';

/** The next `count` values of `iterator`, fewer if it ends first. */
export async function take(iterator: AsyncIterator<Buffer>, count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  while (out.length < count) {
    const { value, done } = await iterator.next();
    if (done) break;
    out.push(value);
  }
  return out;
}

export interface UserspacePair {
  server: TtunServer;
  client: TtunClient;
  /** Closes the client, then the server (each close() may already have been called). */
  close(): Promise<void>;
}

/**
 * A userspace server on a free loopback port and a userspace client connected to it with the same
 * key, plus any further options for either; resolves once both have their session up.
 */
export async function userspacePair(
  psk: string,
  more: { server?: Partial<ServerOptions>; client?: Partial<ClientOptions> } = {},
): Promise<UserspacePair> {
  const server = await createServer({ psk, listen: '127.0.0.1:0', tun: false, ...more.server });
  const serverUp = once(server, 'up');
  let client: TtunClient;
  try {
    client = await connect({ psk, server: `127.0.0.1:${server.address().port}`, tun: false, ...more.client });
  } catch (err) {
    await server.close();
    throw err;
  }
  const close = async () => {
    await client.close();
    await server.close();
  };
  try {
    await Promise.all([serverUp, once(client, 'up')]);
  } catch (err) {
    await close();
    throw err;
  }
  return { server, client, close };
}
