/**
 * Each running instance's control socket: a unix stream socket that answers whoever connects
 * with one JSON document (the instance's status) and closes. It reads nothing, so there is nothing
 * to parse; the socket file is mode 0600, so only its owner (the user ttun runs as) and root can
 * connect. `ttun status` is its reader.
 *
 * One per instance, named by its TUN: `<dev>.sock` in /run/ttun, or in the directory systemd made
 * for the unit (RUNTIME_DIRECTORY), or in /run/ttun/netns-<name> for an instance in another
 * network namespace (TUN names are per namespace, so two instances may share one).
 */
import { chmodSync, type Dirent, mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { TtunError } from '../shared/errors.js';
import { CONTROL_DIRECTORY, CONTROL_MAX_CONNECTIONS, CONTROL_TIMEOUT_MS } from '../shared/tunables.js';

const SUFFIX = '.sock';

/**
 * The name `ip netns` gave this process's network namespace, if it is one of those (the files in
 * /run/netns are bind mounts of the namespaces: the same inode as our own). A container's
 * namespace has its own /run, and the host's has no name: both use /run/ttun itself.
 */
function namedNetworkNamespace(): string | undefined {
  try {
    const own = statSync('/proc/self/ns/net');
    for (const name of readdirSync('/run/netns')) {
      const other = statSync(join('/run/netns', name));
      if (other.ino === own.ino && other.dev === own.dev) return name;
    }
  } catch {
    // No /run/netns: no named namespaces.
  }
  return undefined;
}

/** The directory of the instances in this process's network namespace, when it is a named one. */
export function namespaceDirectory(): string | undefined {
  const netns = namedNetworkNamespace();
  return netns === undefined ? undefined : join(CONTROL_DIRECTORY, `netns-${netns}`);
}

/** Where the instance with TUN `dev` puts its control socket. */
export function controlSocketPath(dev: string, env: NodeJS.ProcessEnv = process.env): string {
  const systemd = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (systemd !== undefined && systemd !== '') return join(systemd, `${dev}${SUFFIX}`);
  return join(namespaceDirectory() ?? CONTROL_DIRECTORY, `${dev}${SUFFIX}`);
}

/** An instance's socket as `ttun status` finds it: its TUN's name and, for one in a subdirectory, which. */
export interface FoundSocket {
  path: string;
  dev: string;
  /** The subdirectory of /run/ttun (a unit's instance, `netns-<name>`), if any. */
  place: string | undefined;
}

/**
 * Every control socket under `directory` (one level of subdirectories too), or only those of TUN
 * `dev`. In a named network namespace, only its own directory: the TUN names there are its own.
 */
export function findControlSockets(dev?: string, directory = namespaceDirectory() ?? CONTROL_DIRECTORY): FoundSocket[] {
  const found: FoundSocket[] = [];
  const look = (dir: string, place: string | undefined, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isSocket() && entry.name.endsWith(SUFFIX)) {
        const name = entry.name.slice(0, -SUFFIX.length);
        if (dev === undefined || name === dev) found.push({ path: join(dir, entry.name), dev: name, place });
      } else if (entry.isDirectory() && depth === 0) {
        look(join(dir, entry.name), entry.name, 1);
      }
    }
  };
  look(directory, undefined, 0);
  return found;
}

/** What a reader gets from a socket: the document, or why not (a stale socket's instance is gone). */
export type ControlAnswer = { ok: true; text: string } | { ok: false; code: string | undefined; message: string };

/** Connects to `path` and reads its one document. */
export function readControlSocket(path: string, timeoutMs = CONTROL_TIMEOUT_MS): Promise<ControlAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ path });
    socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve({ ok: true, text: Buffer.concat(chunks).toString('utf8') }));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code, message: err.message }));
  });
}

/** Refuses a directory for the socket that someone else could write: they could put another socket in its place. */
function checkDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o755 });
  const stats = statSync(directory);
  const euid = process.geteuid?.();
  if (stats.uid !== euid && stats.uid !== 0) throw new Error(`${directory} belongs to uid ${stats.uid}`);
  if ((stats.mode & 0o022) !== 0) throw new Error(`${directory} is writable by other users`);
}

/**
 * A socket file already at `path`: another instance's (it answers: refuse), or one left by an
 * instance that is gone (nobody answers: remove it).
 */
async function claim(path: string): Promise<void> {
  const answer = await readControlSocket(path);
  if (answer.ok) throw new TtunError(`another ttun instance answers on ${path}`, 'EADDRINUSE');
  if (answer.code === 'ECONNREFUSED') unlinkSync(path);
}

export class ControlSocket {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  /**
   * Listens on `path`, answering each connection with `document()`. Rejects (an Error saying why)
   * when it cannot: the caller goes on without one. `failed` hears of later errors (out of file
   * descriptors); the listener stays.
   */
  static async open(path: string, document: () => string, failed: (err: Error) => void): Promise<ControlSocket> {
    checkDirectory(dirname(path));
    await claim(path);
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.setTimeout(CONTROL_TIMEOUT_MS, () => socket.destroy());
      socket.on('error', () => {});
      socket.end(`${document()}\n`);
    });
    server.maxConnections = CONTROL_MAX_CONNECTIONS;
    // Created 0600 from the start (no moment in which anyone else could connect), then made sure of.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path }, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    server.removeAllListeners('error');
    server.on('error', failed);
    return new ControlSocket(server, path);
  }

  /**
   * Stops answering: the socket file goes at once (Node removes it, where this process still may:
   * not after dropping root), and a namespace's directory once empty. Nothing to wait for: a
   * reader still connected gets its answer, or is cut off within CONTROL_TIMEOUT_MS.
   */
  close(): void {
    this.server.close(() => {
      const directory = dirname(this.path);
      if (directory !== namespaceDirectory()) return;
      try {
        rmdirSync(directory);
      } catch {
        // Another instance's socket is still there, or root is gone: it stays.
      }
    });
  }
}

/** For messages: `ttun0`, or `ttun0 (netns lab)` for one in a subdirectory. */
export function describeSocket({ dev, place }: FoundSocket): string {
  return place === undefined ? dev : `${dev} (${place})`;
}
