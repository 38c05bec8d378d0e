/**
 * napi-rs's name of this machine's platform (linux-x64-gnu, darwin-arm64, ...): the loader
 * (ts/native.ts) looks for the addon under it, and scripts/build-native.mjs builds it there.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Whether this Node runs on musl. The process report describes the running process, which is what
 * decides which addon can load (a musl Node can run on a glibc host, as in the platform tests), so
 * it is asked first (with excludeNetwork: without it getReport() resolves every open socket's peer
 * name, which can take minutes on some hosts): glibcVersionRuntime is set only under glibc, and a
 * musl process has musl's libc among its shared objects. Without a report, napi-rs's checks:
 * /usr/bin/ldd names its libc, then `ldd --version`.
 */
export function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  const report = process.report as (typeof process.report & { excludeNetwork?: boolean }) | undefined;
  if (report && typeof report.getReport === 'function') {
    report.excludeNetwork = true;
    const r = report.getReport() as { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] };
    if (r?.header?.glibcVersionRuntime) return false;
    if (Array.isArray(r?.sharedObjects)) return r.sharedObjects.some((f) => /musl/.test(f) && /\/(libc|ld-)[^/]*$/.test(f));
  }
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    // no /usr/bin/ldd: ask ldd itself
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

/**
 * napi.packageName in package.json: the platform packages are named <this>-<platform>, the napi-rs
 * convention, under a scope because npm's spam detection refuses a run of new unscoped packages
 * that differ only by a platform suffix (test/unit/platforms.test.ts keeps the two in step).
 */
export const PLATFORM_PACKAGE_PREFIX = '@ttun/ttun';

/** The package of the addon for this platform: @ttun/ttun-<platform>. */
export function platformPackage(triple = platformTriple()): string {
  return `${PLATFORM_PACKAGE_PREFIX}-${triple}`;
}
