#!/usr/bin/env node
// (Re)writes the platform packages' folders under packages/ from package.json's "napi" section, the
// napi-rs way (`napi create-npm-dirs`: names ttun-<platform>, os/cpu/libc, version of the main
// package; then `napi version`, which keeps their versions in step with it), and applies the one
// change ttun needs on top:
//   every package: its README says which package to install (napi-rs writes "the binary for
//   <napi.packageName>", but users install ttun, and a package with no readable text reads as spam).
//   every package: "engines" is the addon's own need (Node-API 8, in every Node 20), not the main
//   package's (yargs needs 20.19): npm leaves out an optional dependency whose engines do not
//   match, and the newest armv7 Node on npm is 20.11, where the addon runs (scripts/test-platforms.sh).
//   win32-x64-gnu: napi-rs gives every *-gnu target `"libc": ["glibc"]`, but npm only knows a libc
//   on Linux and refuses any package with a libc field elsewhere, so npm would never install it on
//   Windows. The field goes; and the package ships wintun.dll with its licence
//   (scripts/fetch-wintun.sh).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const napi = (...args) =>
  execFileSync('npx', ['napi', ...args, '--npm-dir', 'packages'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
napi('create-npm-dirs');
napi('version');

const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { parseTriple } = await import('@napi-rs/cli');
for (const target of main.napi.targets) {
  const platform = parseTriple(target).platformArchABI;
  writeFileSync(
    join(root, 'packages', platform, 'README.md'),
    `# \`${main.napi.packageName}-${platform}\`

The **${target}** native addon of [ttun](https://www.npmjs.com/package/${main.name}) ${main.version}. npm installs it
beside ttun on matching machines; install \`${main.name}\` (\`npm install -g ${main.name}\`), not this package.
`,
  );
  const file = join(root, 'packages', platform, 'package.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  manifest.engines = { node: '>=20' };
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}

const winJson = join(root, 'packages', 'win32-x64-gnu', 'package.json');
const win = JSON.parse(readFileSync(winJson, 'utf8'));
delete win.libc;
win.files = [...new Set([...win.files, 'wintun.dll', 'wintun-LICENSE.txt'])];
writeFileSync(winJson, `${JSON.stringify(win, null, 2)}\n`);
const winReadme = join(root, 'packages', 'win32-x64-gnu', 'README.md');
writeFileSync(
  winReadme,
  readFileSync(winReadme, 'utf8').trimEnd() +
    `

It also carries \`wintun.dll\` (Wintun 0.14.1 for amd64, by WireGuard LLC), which ttun uses to open its TUN
device, under its own licence: \`wintun-LICENSE.txt\` (ttun's code is MIT).
`,
);
