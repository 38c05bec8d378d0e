// The npm packages as a user installs them: pack (build.sh), `npm install -g` into a temporary
// prefix, then the installed `ttun` runs a real tunnel.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Lab, ROOT, run } from './harness.js';

test('npm install -g of the packed tarballs puts a working ttun on PATH', { timeout: 300_000 }, async (t) => {
  const pack = await run('bash', [join(ROOT, 'build.sh'), '--pack'], { timeoutMs: 120_000 });
  assert.equal(pack.code, 0, pack.stderr);
  const install = /install with: npm install -g (.*)$/m
    .exec(pack.stderr)![1]!
    .split(' ')
    .map((p) => join(ROOT, p));
  assert.ok(
    install.some((p) => /\/ttun-ttun-linux-x64-gnu-[\d.]+\.tgz$/.test(p)) && install.some((p) => /\/ttun-[\d.]+\.tgz$/.test(p)),
    install.join(' '),
  );
  // What the main tarball ships: the licence, compiled JavaScript with its types, no source maps
  // pointing at TypeScript it does not ship.
  const main = install.find((p) => /\/ttun-[\d.]+\.tgz$/.test(p))!;
  const files = (await run('tar', ['-tzf', main])).stdout.split('\n');
  assert.ok(files.includes('package/LICENSE'), 'LICENSE shipped');
  assert.ok(files.includes('package/dist/ts/index.d.ts'), 'types shipped');
  assert.deepEqual(
    files.filter((f) => f.endsWith('.map')),
    [],
  );
  const prefix = mkdtempSync(join(tmpdir(), 'ttun-prefix-'));
  t.after(() => rmSync(prefix, { recursive: true, force: true }));
  const npm = await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ...install], { timeoutMs: 180_000 });
  assert.equal(npm.code, 0, npm.stderr);
  const ttun = join(prefix, 'bin', 'ttun');
  const version = await run(ttun, ['--version']);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);

  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const env = { TTUN_PSK: 'installed package test key', TTUN_LOG_FORMAT: 'json' };
  const server = lab.spawn(lab.server, [ttun, 'server'], env);
  await server.waitForEvent('listening');
  const client = lab.spawn(lab.clients[0]!, [ttun, 'client', '-s', lab.serverAddress()], env);
  await client.waitForEvent('up');
  const ping = await lab.ping(lab.clients[0]!, '10.1.1.1');
  assert.match(ping.stdout, /3 received, 0% packet loss/);
});
