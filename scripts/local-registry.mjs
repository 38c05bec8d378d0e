#!/usr/bin/env node
// A throwaway npm registry on 127.0.0.1 for testing installs before anything is published: it
// serves the tarballs in a folder (default build/) as packages, and passes every other request
// through to the registry npm is configured with (yargs and the like). `npm install -g ttun
// --registry <url>` against it then takes the same path as against npmjs.org after publishing:
// npm reads ttun's optionalDependencies and installs only the platform package whose os/cpu/libc
// match. It also takes `npm publish` (any token), writing the tarball into the folder, so a
// release can be published to it first (scripts/publish.mjs) and installed from it after; a
// version it already holds is refused, as npmjs.org does. Prints the URL on stdout, serves until
// killed.
// usage: node scripts/local-registry.mjs [folder]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';

const folder = resolve(process.argv[2] ?? 'build');
const upstream = (
  process.env.npm_config_registry || execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim()
).replace(/\/$/, '');
const local = new Map(); // name -> { manifest, file }
mkdirSync(folder, { recursive: true });
for (const f of readdirSync(folder).filter((f) => f.endsWith('.tgz'))) {
  const file = join(folder, f);
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' }));
  local.set(manifest.name, { manifest, file });
}

const server = createServer(async (req, res) => {
  try {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const base = `http://127.0.0.1:${server.address().port}`;
    const name = path.slice(1).replace(/^(@[^/]+\/[^/]+|[^/]+).*$/, '$1');
    const own = local.get(name);
    if (req.method === 'PUT' && path === `/${name}`) {
      publish(name, JSON.parse((await readBody(req)).toString('utf8')), res);
    } else if (own && path === `/${name}`) {
      const data = readFileSync(own.file);
      const v = own.manifest.version;
      const packument = {
        name,
        'dist-tags': { latest: v },
        versions: {
          [v]: {
            ...own.manifest,
            _id: `${name}@${v}`,
            dist: {
              tarball: `${base}/${name}/-/${name}-${v}.tgz`,
              integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
              shasum: createHash('sha1').update(data).digest('hex'),
            },
          },
        },
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument));
    } else if (own && path.endsWith('.tgz')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(own.file));
    } else {
      const r = await fetch(upstream + req.url, { headers: { accept: req.headers.accept ?? '*/*' } });
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream' }).end(body);
    }
  } catch (err) {
    res.writeHead(502).end(String(err));
  }
});
server.listen(0, '127.0.0.1', () => console.log(`http://127.0.0.1:${server.address().port}/`));

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** npm publish's body: the version's manifest and the tarball as a base64 attachment. */
function publish(name, body, res) {
  const [version, manifest] = Object.entries(body.versions ?? {})[0] ?? [];
  const [attachment] = Object.values(body._attachments ?? {});
  if (!version || !attachment) return res.writeHead(400).end('{"error":"no version or tarball"}');
  const file = join(folder, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`);
  if (local.get(name)?.manifest.version === version || existsSync(file)) {
    return res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `${name}@${version} exists` }));
  }
  writeFileSync(file, Buffer.from(attachment.data, 'base64'));
  local.set(name, { manifest, file });
  res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
}
