#!/usr/bin/env node
// Builds the napi addon for this machine into packages/<platform>/ (the platform package the
// loader in ts/native.ts looks for in a checkout). `--debug` builds without optimisations.
// <platform> comes from the loader's own platformTriple() (compiled: `npm run build:ts` runs
// first), so the addon lands exactly where the loader will look.
//
// napi also writes the addon's TypeScript declarations (packages/<platform>/ttun.d.ts). The
// committed copy, ts/core/native-binding.d.ts, is what the TypeScript compiles against: this script
// says when the two differ, `--update-types` copies the fresh one over, and
// test/unit/binding-types.test.ts fails while they differ.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'ts', 'core', 'platform.js');
if (!existsSync(compiled)) {
  console.error('build-native: dist/ts/core/platform.js is missing; run `npm run build:ts` first');
  process.exit(1);
}
const { platformTriple } = await import(pathToFileURL(compiled).href);
const platform = platformTriple();
if (!existsSync(join(root, 'packages', platform, 'package.json'))) {
  console.error(
    `build-native: no platform package at packages/${platform}; add its Rust target to "napi.targets" in package.json and run \`npx napi create-npm-dirs --npm-dir packages\``,
  );
  process.exit(1);
}
const release = !process.argv.includes('--debug');
execFileSync(
  'npx',
  [
    'napi',
    'build',
    '--platform',
    ...(release ? ['--release'] : []),
    '--manifest-path',
    'crates/ttun-napi/Cargo.toml',
    '--package-json-path',
    'package.json',
    '--output-dir',
    `packages/${platform}`,
    '--no-js',
    '--dts',
    'ttun.d.ts',
    // String enums as unions of their values ('chacha20-poly1305' | ...), numeric ones as enums.
    '--no-const-enum',
  ],
  { cwd: root, stdio: 'inherit' },
);

// ts/shared/wire.ts from the addon just built (scripts/wire-constants.mjs).
const { wireConstantsSource } = await import(pathToFileURL(join(root, 'scripts', 'wire-constants.mjs')).href);
const { createRequire } = await import('node:module');
const addon = createRequire(import.meta.url)(join(root, 'packages', platform, `ttun.${platform}.node`));
const wireFile = join(root, 'ts', 'shared', 'wire.ts');
const wire = wireConstantsSource(addon.wireConstants());
if (!existsSync(wireFile) || readFileSync(wireFile, 'utf8') !== wire) {
  if (process.argv.includes('--update-types')) {
    writeFileSync(wireFile, wire);
    console.error('build-native: updated ts/shared/wire.ts from the addon');
  } else {
    console.error(
      "build-native: ts/shared/wire.ts differs from the addon's wire constants: run `node scripts/build-native.mjs --update-types`",
    );
  }
}

const generated = join(root, 'packages', platform, 'ttun.d.ts');
const committed = join(root, 'ts', 'core', 'native-binding.d.ts');
const same = existsSync(committed) && readFileSync(generated, 'utf8') === readFileSync(committed, 'utf8');
if (!same && process.argv.includes('--update-types')) {
  copyFileSync(generated, committed);
  console.error('build-native: updated ts/core/native-binding.d.ts from the Rust API');
} else if (!same) {
  console.error(
    'build-native: ts/core/native-binding.d.ts differs from the types napi generated (the Rust API changed): ' +
      'run `node scripts/build-native.mjs --update-types` and commit it',
  );
}
