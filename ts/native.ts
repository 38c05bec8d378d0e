/**
 * Finds and loads the napi addon for this platform. In a checkout it is the file the build put in
 * packages/<triple>/; in an installed package it is the optional dependency ttun-<triple>
 * (the napi-rs convention: one prebuilt package per platform, npm installs only the one whose
 * os/cpu/libc match). TTUN_NATIVE_LIBRARY_PATH names a .node file to load instead.
 */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CipherName } from './config.js';
import { TtunError } from './errors.js';
import type { Direction, ProtocolCore } from './protocol.js';
import { loadWasmCore } from './wasm-core.js';

export interface TunDeviceOptions {
  /** Default: the first free ttunN (Linux), the next utunN (macOS), ttun (Windows). */
  name?: string;
  mtu: number;
  /** Each family optional; an address needs its prefix. */
  ipv4?: string;
  ipv4Prefix?: number;
  ipv6?: string;
  ipv6Prefix?: number;
  /** Windows: path of wintun.dll (else the DLL search path); ignored elsewhere. */
  wintunFile?: string;
}

/** Counters of the native data path (see crates/ttun-napi/src/tun/stats.rs). */
export interface NativeStats {
  /** Packets read from the TUN and sent to the peer, and their IP bytes. */
  txPackets: number;
  txBytes: number;
  /** Packets received from the peer and written to the TUN, and their IP bytes. */
  rxPackets: number;
  rxBytes: number;
  /** Read from the TUN while no session was up. */
  txDroppedNoSession: number;
  /** Read from the TUN but larger than a frame can carry (65519 bytes). */
  txDroppedTooBig: number;
  /** Taken off the TUN by a read but not usable (an offload super-packet that could not be split, for example). */
  txDroppedUnreadable: number;
  /** Received frames whose plaintext is not an IPv4 or IPv6 packet. */
  rxDroppedNotIp: number;
  /** Writes the TUN refused (counted per failed batch write). */
  rxDroppedTunWrite: number;
}

/** A TUN device plus the Rust reader thread that seals what it reads (crates/ttun-napi/src/tun). */
export interface NativeTunDevice {
  readonly name: string;
  readonly mtu: number;
  /**
   * Attaches an authenticated session, replacing any previous one, and hands its connection to
   * Rust: the reader thread seals packets read from the TUN (counter 1 upwards) and writes them
   * to socket `fd`; a thread of the session reads `fd` (starting with `leftover`) and writes the
   * opened packets to the TUN. Node must have stopped reading the socket. onEnd gets one reason
   * when a Rust thread ends the session (closed by peer, connection error, bad frame).
   */
  attachSocket(
    cipher: CipherName,
    sessionKey: Buffer,
    sendDirection: Direction,
    fd: number,
    leftover: Buffer,
    onEnd: (reason: string) => void,
  ): NativeTunSession;
  /** Like attachSocket, but each batch of sealed frames is handed to onBatch for JS to write; pause()/resume() carry backpressure. */
  attachCallback(cipher: CipherName, sessionKey: Buffer, sendDirection: Direction, onBatch: (wire: Buffer) => void): NativeTunSession;
  /**
   * Takes the TUN for JavaScript itself (replacing any session): packets read from it come to
   * onBatch unsealed, as [u16 BE length][packet] records, one buffer per batch.
   */
  attachPackets(onBatch: (records: Buffer) => void): NativeTunSession;
  /** Writes whole IPv4/IPv6 packets to the TUN in one batch; returns how many it took. */
  writePackets(packets: Buffer[]): number;
  /** Backpressure from the socket: the reader thread stops taking packets from the TUN until resume(). */
  pause(): void;
  resume(): void;
  stats(): NativeStats;
  /**
   * Ends the session, stops and joins every thread of the device and closes it, which removes it
   * before close() returns. Afterwards attach*() throw (ECLOSED), writePackets() takes nothing,
   * stats() keeps the final counts and session handles' receive() throws (EDETACHED).
   */
  close(): void;
}

export interface NativeTunSession {
  /** attachCallback sessions only: opens the frames in a chunk of the TCP stream and writes their packets to the TUN. Throws (code EBADFRAME) on a bad frame. */
  receive(chunk: Buffer): void;
  /** Stops sealing for this session if it is still the attached one, and shuts its connection down. */
  detach(): void;
}

/** Seals packets into frames of one direction (no TUN involved). */
export interface NativeFrameSealer {
  /** One buffer with a frame per packet, in order. */
  seal(packets: Buffer[]): Buffer;
}

/** Cuts frames out of a byte stream in any chunking and opens them in order. */
export interface NativeFrameReceiver {
  /** The plaintexts of the frames this chunk completes; throws (code EBADFRAME) on a bad frame. */
  receive(chunk: Buffer): Buffer[];
}

export interface NativeBinding extends ProtocolCore {
  FrameSealer: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => NativeFrameSealer;
  FrameReceiver: new (cipher: CipherName, key: Buffer, direction: Direction, firstCounter: number) => NativeFrameReceiver;
  createTun(options: TunDeviceOptions, onFatal: (message: string) => void): NativeTunDevice;
  /** A listening MPTCP socket (Linux) for server.listen({ fd }); address null: every IPv4 and IPv6 address. Throws code EPROTONOSUPPORT without MPTCP. */
  mptcpListen(address: string | null, port: number, backlog: number): number;
  /** Connects an MPTCP socket to an IP address on a worker thread; resolves with the fd for new net.Socket({ fd }). */
  mptcpConnect(address: string, port: number, timeoutMs: number): Promise<number>;
  /** Whether a connected socket runs MPTCP (false: plain TCP or the peer fell back). */
  isMptcp(fd: number): boolean;
  /** Sets what Node's net module cannot: TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, keepalive interval. */
  tuneSocket(fd: number, options: { keepaliveSecs: number; userTimeoutMs: number; notsentLowat: number }): string[];
}

/**
 * Whether this Linux runs on musl, decided the way napi-rs's generated loader does: /usr/bin/ldd
 * names its libc; failing that, the process report (with excludeNetwork: without it getReport()
 * resolves every open socket's peer name, which can take minutes on some hosts); failing that,
 * `ldd --version`.
 */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // no /usr/bin/ldd: ask the process report
  }
  const report = process.report as (typeof process.report & { excludeNetwork?: boolean }) | undefined;
  if (report && typeof report.getReport === 'function') {
    report.excludeNetwork = true;
    const r = report.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] };
    if (r?.header?.glibcVersionRuntime) return false;
    if (Array.isArray(r?.sharedObjects)) return r.sharedObjects.some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'));
  }
  try {
    return execSync('ldd --version', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes('musl');
  } catch {
    return false;
  }
}

/**
 * napi-rs's platform name (platformArchABI) for each Node platform and architecture; SHIPPED says
 * which have a package. Windows has one build, x86_64-pc-windows-gnu (MinGW): it looks the Node-API
 * functions up in the running node.exe, so it loads into the usual MSVC-built Node too.
 */
const PLATFORMS: Record<string, string | ((musl: boolean) => string)> = {
  'linux-x64': (musl) => (musl ? 'linux-x64-musl' : 'linux-x64-gnu'),
  'linux-arm64': (musl) => (musl ? 'linux-arm64-musl' : 'linux-arm64-gnu'),
  'linux-arm': (musl) => (musl ? 'linux-arm-musleabihf' : 'linux-arm-gnueabihf'),
  'darwin-x64': 'darwin-x64',
  'darwin-arm64': 'darwin-arm64',
  'win32-x64': 'win32-x64-gnu',
};

/** The platforms with a package (napi.targets in package.json; test/unit/platforms.test.ts keeps them in step). */
export const SHIPPED = new Set([
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'linux-arm-gnueabihf',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-gnu',
]);

/** The napi-rs platform name of this machine (linux-x64-gnu, darwin-arm64, win32-x64-gnu, ...). */
export function platformTriple(): string {
  const key = `${process.platform}-${process.arch}`;
  const entry = PLATFORMS[key];
  if (entry === undefined) return key;
  return typeof entry === 'string' ? entry : entry(isMusl());
}

/** The package of the addon for this platform: ttun-<platform>, the napi-rs convention. */
export function platformPackage(triple = platformTriple()): string {
  return `ttun-${triple}`;
}

/** Environment variable naming a .node file to load instead of looking for one (napi-rs: NAPI_RS_NATIVE_LIBRARY_PATH). */
export const NATIVE_LIBRARY_PATH_ENV = 'TTUN_NATIVE_LIBRARY_PATH';

let cached: NativeBinding | null | undefined;
let cachedError: string | undefined;
let cachedPath: string | undefined;

/** The folder of the .node file that loaded (the platform package's, on Windows with wintun.dll). */
export function nativeLibraryDir(): string | undefined {
  return cachedPath === undefined ? undefined : dirname(cachedPath);
}

function load(require: NodeJS.Require, id: string): NativeBinding {
  const path = require.resolve(id);
  const binding = require(path) as NativeBinding;
  cachedPath = path;
  return binding;
}

function ownVersion(here: string): string {
  try {
    return (JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'latest';
  }
}

/** The addon for this platform, or undefined (with the reason kept for loadNative's error). */
export function tryLoadNative(): NativeBinding | undefined {
  if (cached !== undefined) return cached ?? undefined;
  const triple = platformTriple();
  const pkg = platformPackage(triple);
  const require = createRequire(import.meta.url);
  const here = dirname(fileURLToPath(import.meta.url));
  const errors: string[] = [];
  const override = process.env[NATIVE_LIBRARY_PATH_ENV];
  if (process.env.TTUN_NATIVE === 'off') {
    errors.push('TTUN_NATIVE=off');
  } else if (override) {
    // As napi-rs: the override is the only candidate.
    try {
      cached = load(require, resolve(override));
      return cached;
    } catch (err) {
      errors.push(`${NATIVE_LIBRARY_PATH_ENV}=${override}: ${(err as Error).message.split('\n')[0]}`);
    }
  } else if (!SHIPPED.has(triple)) {
    errors.push(`ttun has no prebuilt addon for ${triple}`);
  } else {
    // dist/ts/native.js -> <root>/packages/<triple>/ttun.<triple>.node (a checkout after `npm run build`)
    const local = join(here, '..', '..', 'packages', triple, `ttun.${triple}.node`);
    if (existsSync(local)) {
      try {
        cached = load(require, local);
        return cached;
      } catch (err) {
        errors.push(`${local}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    try {
      cached = load(require, pkg);
      return cached;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${pkg}'`)) {
        const v = ownVersion(here);
        errors.push(
          `the platform package ${pkg} is not installed (npm leaves optional dependencies out with --omit=optional): ` +
            `install it with \`npm install -g ${pkg}@${v}\` beside a global ttun, \`npm install ${pkg}@${v}\` in a project`,
        );
      } else {
        errors.push(`${pkg}: ${e.message.split('\n')[0]}`);
      }
    }
  }
  cached = null;
  cachedError = `no native addon for ${triple}${errors.length ? ` (${errors.join('; ')})` : ''}`;
  return undefined;
}

/** The addon, needed for a TUN device: throws a TtunError saying how to get it. */
export function loadNative(): NativeBinding {
  const native = tryLoadNative();
  if (native) return native;
  throw new TtunError(
    `${cachedError}; in a checkout, \`npm run build\` builds it. Without it only the userspace mode, tun: false, works ` +
      '(on the WebAssembly core)',
    'ENONATIVE',
  );
}

/** What the protocol needs without a TUN: the addon where there is one, else the WebAssembly core. */
export type Core = ProtocolCore & {
  readonly kind: 'native' | 'wasm';
  FrameSealer: NativeBinding['FrameSealer'];
  FrameReceiver: NativeBinding['FrameReceiver'];
};

let cachedCore: Core | undefined;

export function loadCore(): Core {
  if (cachedCore) return cachedCore;
  const native = tryLoadNative();
  if (native) {
    cachedCore = Object.assign(Object.create(native) as NativeBinding, { kind: 'native' as const });
    return cachedCore;
  }
  try {
    cachedCore = loadWasmCore();
  } catch (err) {
    throw new TtunError(`${cachedError}, and the WebAssembly core did not load: ${(err as Error).message}`, 'ENOCORE');
  }
  return cachedCore;
}
