#!/usr/bin/env node
// Builds the napi addon for this machine into packages/<triple>/ (the platform package the
// loader in ts/native.ts looks for in a checkout). `--debug` builds without optimisations.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const triple = process.env.TTUN_TRIPLE ?? (await import(join(root, 'scripts', 'triple.mjs'))).hostTriple();
const outDir = join(root, 'packages', triple);
if (!existsSync(join(outDir, 'package.json'))) {
  console.error(`build-native: no platform package at packages/${triple}; add one before building for it`);
  process.exit(1);
}
const release = !process.argv.includes('--debug');
execFileSync(
  'npx',
  ['napi', 'build', '--platform', ...(release ? ['--release'] : []), '--manifest-path', 'crates/ttun-napi/Cargo.toml',
    '--package-json-path', 'package.json', '--output-dir', `packages/${triple}`, '--no-js', '--dts', 'ttun.d.ts'],
  { cwd: root, stdio: 'inherit' },
);
