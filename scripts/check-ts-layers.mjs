#!/usr/bin/env node
// The layers of ts/ (run by `npm run lint`): each folder is one concern, and a file may import only
// its own folder and the folders of lower layers, so no import runs back up and nothing imports the
// CLI. Type-only imports count: they are knowledge of the layer above all the same. (madge, also in
// lint, finds cycles inside a folder.)
//   shared                 errors, package facts, tunables: knows nothing of ttun's parts
//   options                every option: table, sources, values
//   core                   the protocol core: the addon or WebAssembly, and its types
//   network                sockets: connections, proxies, socket options and reads
//   datapath               packets: the TUN device, carriers, queues, sessions, counters
//   host, observability    side effects on the host (routes, hooks, privileges); metrics
//   tunnel                 handshake, endpoint, server, client
//   index.ts               the public API
//   cli                    the ttun command and its wording of events and errors
// usage: node scripts/check-ts-layers.mjs [--root DIR]   (DIR holds ts/; default the checkout)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const LAYERS = [['shared'], ['options'], ['core'], ['network'], ['datapath'], ['host', 'observability'], ['tunnel'], ['.'], ['cli']];
const rank = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i])));

const args = process.argv.slice(2);
const root = resolve(args.includes('--root') ? args[args.indexOf('--root') + 1] : join(dirname(fileURLToPath(import.meta.url)), '..'));
const tsRoot = join(root, 'ts');

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

/** ts/<folder>/x.ts -> folder; ts/x.ts -> '.' */
const folderOf = (path) => {
  const parts = relative(tsRoot, path).split(sep);
  return parts.length === 1 ? '.' : parts[0];
};

const problems = [];
for (const file of files(tsRoot)) {
  const from = folderOf(file);
  if (!rank.has(from)) {
    problems.push(`${relative(root, file)}: folder ts/${from} is in no layer (add it to scripts/check-ts-layers.mjs)`);
    continue;
  }
  const text = readFileSync(file, 'utf8');
  for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), specifier);
    if (!target.startsWith(tsRoot + sep)) continue;
    const to = folderOf(target);
    if (to === from) continue;
    if (!rank.has(to) || rank.get(to) >= rank.get(from)) {
      problems.push(`${relative(root, file)} imports ${specifier}: ts/${from} may not import ts/${to} (a layer not below it)`);
    }
  }
}
if (problems.length) {
  for (const p of problems) console.error(`check-ts-layers: ${p}`);
  process.exit(1);
}
console.error(`check-ts-layers: ${[...files(tsRoot)].length} files, every import runs down the layers`);
