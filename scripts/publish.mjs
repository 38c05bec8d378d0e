#!/usr/bin/env node
// Publishes a release from the tarballs ./build.sh made, so that it cannot go out half-made:
// the eight platform packages first, then ttun, and ttun only if its optionalDependencies name every
// platform package of package.json's napi.targets at its own version and each of those is in the
// registry at that version. Also the checkout's prepublishOnly (`--check`): a plain `npm publish` in
// the checkout is refused, since the checkout's package.json lists no platform packages.
// usage: node scripts/publish.mjs [--registry URL] [--dry-run]     publish build/*.tgz
//        node scripts/publish.mjs --check                          (prepublishOnly) check ./package.json
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTriple } from '@napi-rs/cli';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const registry = option('--registry');
const dryRun = args.includes('--dry-run');
const checkout = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { version } = checkout;
const platformPackages = checkout.napi.targets.map((t) => `${checkout.napi.packageName}-${parseTriple(t).platformArchABI}`);

function refuse(message) {
  console.error(`publish: refused: ${message}`);
  process.exit(1);
}

function npm(...npmArgs) {
  return execFileSync('npm', [...npmArgs, ...(registry ? ['--registry', registry] : [])], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Every platform package at exactly this version among ttun's optionalDependencies, and nothing else. */
function checkOptionalDependencies(manifest, where) {
  const listed = manifest.optionalDependencies ?? {};
  const missing = platformPackages.filter((p) => listed[p] !== version);
  if (missing.length) {
    refuse(
      `${where} does not list ${missing.map((p) => `${p}@${version}`).join(', ')} in optionalDependencies, so an ` +
        'install would get no native addon. Publish a release with `./build.sh && node scripts/publish.mjs`, which ' +
        'publishes the platform packages and then the ttun tarball that lists them.',
    );
  }
}

function inRegistry(name) {
  try {
    return npm('view', `${name}@${version}`, 'version').trim() === version;
  } catch {
    return false;
  }
}

if (args.includes('--check')) {
  checkOptionalDependencies(checkout, 'package.json');
  const absent = platformPackages.filter((p) => !inRegistry(p));
  if (absent.length) refuse(`not in the registry at ${version}: ${absent.join(', ')}; publish them first`);
  process.exit(0);
}

const tarballName = (name) => `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
const manifestOf = (file) => JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }));
const mainTarball = join(root, 'build', tarballName(checkout.name));
if (!existsSync(mainTarball)) refuse(`${mainTarball} is missing: run ./build.sh first`);
checkOptionalDependencies(manifestOf(mainTarball), mainTarball);
const platformTarballs = platformPackages.map((name) => {
  const file = join(root, 'build', tarballName(name));
  if (!existsSync(file)) refuse(`${file} is missing: ./build.sh builds every platform`);
  const manifest = manifestOf(file);
  if (manifest.name !== name || manifest.version !== version) refuse(`${file} holds ${manifest.name}@${manifest.version}`);
  const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' });
  if (!files.includes(`package/${manifest.main}`)) refuse(`${file} lacks its addon ${manifest.main}`);
  return file;
});

const publishArgs = ['--access', 'public', ...(dryRun ? ['--dry-run'] : [])];
for (const file of platformTarballs) {
  npm('publish', file, ...publishArgs);
  console.error(`publish: ${file}`);
}
if (!dryRun) {
  const absent = platformPackages.filter((p) => !inRegistry(p));
  if (absent.length) refuse(`published but not found in the registry: ${absent.join(', ')}; ttun is not published`);
}
npm('publish', mainTarball, ...publishArgs);
console.error(`publish: ${mainTarball}${dryRun ? ' (dry run: nothing was sent)' : ''}`);
