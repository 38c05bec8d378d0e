#!/usr/bin/env node
// Builds the napi addon for this machine into packages/<platform>/ (the platform package the
// loader in ts/native.ts looks for in a checkout). `--debug` builds without optimisations.
// <platform> is napi-rs's name for the host triple rustc reports (linux-x64-gnu, ...).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTriple } from '@napi-rs/cli';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const host = /^host: (.*)$/m.exec(execFileSync('rustc', ['-vV'], { encoding: 'utf8' }))[1];
const platform = parseTriple(host).platformArchABI;
if (!existsSync(join(root, 'packages', platform, 'package.json'))) {
  console.error(
    `build-native: no platform package at packages/${platform}; add ${host} to "napi.targets" in package.json and run \`npx napi create-npm-dirs --npm-dir packages\``,
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
  ],
  { cwd: root, stdio: 'inherit' },
);
