/**
 * Finds and loads the napi addon for this platform. In a checkout it is the file the build put in
 * packages/<triple>/; in an installed package it is the optional dependency @ttun/ttun-<triple>
 * (the napi-rs convention: one prebuilt package per platform, npm installs only the one whose
 * os/cpu/libc match), refused when its version is not ttun's. TTUN_NATIVE_LIBRARY_PATH names a
 * .node file to load instead (unchecked, as napi-rs's NAPI_RS_NATIVE_LIBRARY_PATH).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { TtunError } from '../shared/errors.js';
import { PACKAGE_ROOT, packageVersion } from '../shared/package-info.js';
import type * as binding from './native-binding.js';
import { platformPackage, platformTriple, SHIPPED } from './platform.js';
import type { ProtocolCore } from './protocol.js';
import { loadWasmCore } from './wasm-core.js';

export { isMusl, PLATFORM_PACKAGE_PREFIX, platformPackage, platformTriple, SHIPPED } from './platform.js';

// The addon's types are the ones napi generates from the Rust (ts/native-binding.d.ts); these
// are the names the rest of the TypeScript knows them by.
/** Everything the addon exports. */
export type NativeBinding = typeof binding;
/** Counters of the native data path (see crates/ttun-napi/src/tun/stats.rs). */
export type NativeStats = binding.TunStats;
/** A TUN device plus the Rust reader thread that seals what it reads (crates/ttun-napi/src/tun). */
export type NativeTunDevice = binding.TunDevice;
export type NativeTunSession = binding.TunSession;

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

function versionIn(packageJson: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * An addon from another release speaks another Rust API to this TypeScript: refused before it is
 * loaded, as napi-rs's generated loader does, with the install that fixes it.
 */
function checkSameVersion(nodeFile: string, pkg: string, own: string): void {
  const theirs = versionIn(join(dirname(nodeFile), 'package.json'));
  if (theirs === undefined || theirs === own) return;
  throw new Error(
    `${pkg} is version ${theirs} but ttun is ${own}: install the matching one (\`npm install -g ttun@${own}\` installs both)`,
  );
}

/** The addon for this platform, or undefined (with the reason kept for loadNative's error). */
export function tryLoadNative(): NativeBinding | undefined {
  if (cached !== undefined) return cached ?? undefined;
  const triple = platformTriple();
  const pkg = platformPackage(triple);
  const require = createRequire(import.meta.url);
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
    // <root>/packages/<triple>/ttun.<triple>.node: a checkout after `npm run build`.
    const local = join(PACKAGE_ROOT, 'packages', triple, `ttun.${triple}.node`);
    if (existsSync(local)) {
      try {
        checkSameVersion(local, `packages/${triple}`, packageVersion());
        cached = load(require, local);
        return cached;
      } catch (err) {
        errors.push(`${local}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    // Resolved first, so that "not installed" is told apart from a package that fails to load by the step that failed.
    let path: string | undefined;
    try {
      path = require.resolve(pkg);
    } catch {
      const v = packageVersion();
      errors.push(
        `the platform package ${pkg} is not installed (npm leaves optional dependencies out with --omit=optional): ` +
          `install it with \`npm install -g ${pkg}@${v}\` beside a global ttun, \`npm install ${pkg}@${v}\` in a project`,
      );
    }
    if (path !== undefined) {
      try {
        checkSameVersion(path, pkg, packageVersion());
        cached = load(require, path);
        return cached;
      } catch (err) {
        errors.push(`${pkg}: ${(err as Error).message.split('\n')[0]}`);
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
export type Core = ProtocolCore & { readonly kind: 'native' | 'wasm' };

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
