// The loader: its list of platform packages matches package.json's napi.targets and packages/;
// TTUN_NATIVE_LIBRARY_PATH; the error when the platform package is missing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseTriple } from '@napi-rs/cli';
import { PLATFORM_PACKAGE_PREFIX, platformTriple, SHIPPED } from '../../ts/core/native.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

test('the loader knows exactly the platforms in napi.targets, each with its package folder', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
    napi: { targets: string[]; packageName: string };
  };
  const platforms = pkg.napi.targets.map((t) => parseTriple(t).platformArchABI);
  assert.deepEqual([...SHIPPED].sort(), [...platforms].sort());
  assert.equal(PLATFORM_PACKAGE_PREFIX, pkg.napi.packageName);
  assert.match(PLATFORM_PACKAGE_PREFIX, /^@[a-z0-9-]+\//, 'platform packages are scoped');
  for (const p of platforms) {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      os?: string[];
      cpu?: string[];
    };
    assert.equal(manifest.name, `${pkg.napi.packageName}-${p}`);
    assert.equal(manifest.version, pkg.version);
    assert.ok(manifest.os?.length && manifest.cpu?.length, `${p} names its os and cpu`);
    assert.ok(existsSync(join(ROOT, 'packages', p, 'README.md')));
  }
});

/** What loadNative() of the compiled loader at `nativeJs` says in a fresh process with `env`. */
function loadIn(nativeJs: string, env: Record<string, string>): { code: string; message: string; dir?: string } {
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
    const m = await import(${JSON.stringify(pathToFileURL(nativeJs).href)});
    try { m.loadNative(); console.log(JSON.stringify({ code: 'ok', message: '', dir: m.nativeLibraryDir() })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
  `,
    ],
    { env: { ...process.env, ...env }, encoding: 'utf8' },
  );
  return JSON.parse(out) as { code: string; message: string; dir?: string };
}

const NATIVE_JS = join(ROOT, 'dist', 'ts', 'core', 'native.js');

test('TTUN_NATIVE_LIBRARY_PATH loads that file, and only that file', () => {
  const here = loadIn(NATIVE_JS, {});
  assert.equal(here.code, 'ok', here.message);
  const file = join(here.dir!, readdirSync(here.dir!).find((f) => f.endsWith('.node'))!);
  const copy = mkdtempSync(join(tmpdir(), 'ttun-override-'));
  try {
    copyFileSync(file, join(copy, 'renamed.node'));
    assert.deepEqual(loadIn(NATIVE_JS, { TTUN_NATIVE_LIBRARY_PATH: join(copy, 'renamed.node') }).dir, copy);
    const missing = loadIn(NATIVE_JS, { TTUN_NATIVE_LIBRARY_PATH: join(copy, 'missing.node') });
    assert.equal(missing.code, 'ENONATIVE');
    assert.match(missing.message, /TTUN_NATIVE_LIBRARY_PATH=.*missing\.node/);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test('without its platform package, the error names the package and the npm install that adds it', () => {
  // An installed-like copy of the compiled loader with no packages/ folder and no node_modules.
  const dir = mkdtempSync(join(tmpdir(), 'ttun-nopkg-'));
  try {
    cpSync(join(ROOT, 'dist', 'ts'), join(dir, 'dist', 'ts'), { recursive: true });
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    const r = loadIn(join(dir, 'dist', 'ts', 'core', 'native.js'), {});
    const pkg = `${PLATFORM_PACKAGE_PREFIX}-${platformTriple()}`;
    assert.equal(r.code, 'ENONATIVE');
    assert.ok(r.message.includes(`the platform package ${pkg} is not installed`), r.message);
    assert.ok(r.message.includes(`npm install -g ${pkg}@`), r.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an addon of another version is refused, naming both versions and the install that fixes it', () => {
  // A checkout-like copy whose package.json says another version than its packages/<platform>/.
  const dir = mkdtempSync(join(tmpdir(), 'ttun-version-'));
  const triple = platformTriple();
  try {
    cpSync(join(ROOT, 'dist', 'ts'), join(dir, 'dist', 'ts'), { recursive: true });
    cpSync(join(ROOT, 'packages', triple), join(dir, 'packages', triple), { recursive: true });
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '9.9.9' }));
    const r = loadIn(join(dir, 'dist', 'ts', 'core', 'native.js'), {});
    assert.equal(r.code, 'ENONATIVE');
    assert.ok(r.message.includes(`packages/${triple} is version ${pkg.version} but ttun is 9.9.9`), r.message);
    assert.ok(r.message.includes('npm install -g ttun@9.9.9'), r.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the main package names no os or cpu: it installs anywhere, on the WebAssembly core where no addon is built', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(pkg.os, undefined);
  assert.equal(pkg.cpu, undefined);
});
