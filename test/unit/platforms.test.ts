// The loader: its list of platform packages matches package.json's napi.targets and packages/;
// TTUN_NATIVE_LIBRARY_PATH; the error when the platform package is missing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseTriple } from '@napi-rs/cli';
import { platformTriple, SHIPPED } from '../../ts/native.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

test('the loader knows exactly the platforms in napi.targets, each with its package folder', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { napi: { targets: string[] } };
  const platforms = pkg.napi.targets.map((t) => parseTriple(t).platformArchABI);
  assert.deepEqual([...SHIPPED].sort(), [...platforms].sort());
  for (const p of platforms) {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as { name: string; version: string };
    assert.equal(manifest.name, `ttun-${p}`);
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

const NATIVE_JS = join(ROOT, 'dist', 'ts', 'native.js');

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
    const r = loadIn(join(dir, 'dist', 'ts', 'native.js'), {});
    const pkg = `ttun-${platformTriple()}`;
    assert.equal(r.code, 'ENONATIVE');
    assert.ok(r.message.includes(`the platform package ${pkg} is not installed`), r.message);
    assert.ok(r.message.includes(`npm install -g ${pkg}@`), r.message);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
