/**
 * napi-rs's name of this machine's platform (linux-x64-gnu, darwin-arm64, ...): the loader
 * (ts/native.ts) looks for the addon under it, and scripts/build-native.mjs builds it there.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
